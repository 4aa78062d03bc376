import ArgumentParser
import EchordGateway
import EchordModels
import EchordPostgres
import Foundation
import Logging
import NIOCore

/// `echord listen`: connects a bot token to a gateway (Discord's, or a simulator's) through a
/// ShardManager and prints every dispatch.
struct Listen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect to the Discord gateway (or a simulator) and print every dispatch.",
        discussion: """
            --format json prints one JSON object per dispatch on standard output, one a line: \
            {"shard": n, "s": seq, "t": name, "d": payload}, with d exactly as received. Logs go to \
            standard error. The token is never printed. Exit status: 0 after --duration or \
            Ctrl-C/SIGTERM, 1 when the gateway refuses the bot for good (bad token, bad intents, …).
            """)

    @Option(help: "Bot token (default: the DISCORD_TOKEN environment variable, which keeps it out of `ps`).")
    var token: String?
    @Option(name: .customLong("api-url"), help: "REST API base; a simulator's is http://127.0.0.1:PORT/api/v10.")
    var apiURL = "https://discord.com/api/v10"
    @Option(help: "Shard count: auto (what GET /gateway/bot recommends) or a number.")
    var shards = ShardCountArgument.automatic
    @Option(help: "Transport compression: none, zlib (zlib-stream) or zstd (zstd-stream; needs --traits Zstd). Default: zstd when built in, else zlib.")
    var compress: CompressionArgument?
    @Option(help: "Gateway intents as a number (default \(GatewayIntents.nonPrivileged.rawValue): every non-privileged intent).")
    var intents: UInt64?
    @Option(parsing: .singleValue, help: "Print only these dispatches (comma-separated names, repeatable), e.g. MESSAGE_CREATE,READY.")
    var events: [String] = []
    @Option(help: "Output: json (one object a line) or pretty (a summary a line).")
    var format = ListenFormat.pretty
    @Option(help: "Stop gracefully after this many seconds.")
    var duration: Double?
    @Option(help: "Refuse a shard count from GET /gateway/bot above this (a guard against absurd answers).")
    var maxShards = ShardManager.defaultShardCountLimit
    @Option(name: .customLong("ca-file"), help: ArgumentHelp("Also trust the CA certificates in this PEM file (repeatable), e.g. the one `echord simulate --tls --tls-cert-out` writes. The system roots stay trusted; hostname verification stays on.", valueName: "file"))
    var caFiles: [String] = []
    @Option(help: ArgumentHelp("Cluster mode: join the bot's processes on this PostgreSQL database and run a share of --shards (postgres://USER@HOST:PORT/DB; password from PGPASSWORD or the URL, never printed).", valueName: "url"))
    var cluster: String?
    @Option(name: .customLong("bot-key"), help: "Cluster mode: tells bots sharing one database apart.")
    var botKey = "default"
    @Option(name: .customLong("lease-ttl"), help: "Cluster mode: seconds a shard lease lasts unless renewed.")
    var leaseTTL: Double = 10
    @Option(name: .customLong("checkpoint-interval"), help: "Seconds between a shard's checkpoints while events flow (at most about this much is delivered again after a crash).")
    var checkpointInterval: Double = 5
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics at http://--metrics-host:PORT/metrics (0 picks a free port).")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-host"), help: "Address the metrics endpoint binds.")
    var metricsHost = "127.0.0.1"
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if let metricsPort, !(0...65535).contains(metricsPort) { throw ValidationError("--metrics-port must be within 0...65535") }
        _ = try settings(environment: ["DISCORD_TOKEN": "checked in run()"])  // everything but the token
        if let duration, !(duration > 0) { throw ValidationError("--duration must be > 0") }
        if maxShards < 1 { throw ValidationError("--max-shards must be ≥ 1") }
        if cluster != nil {
            _ = try clusterSettings(environment: [:])
        }
    }

    /// The cluster-mode settings, or nil without `--cluster`.
    func clusterSettings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ClusterListenSettings? {
        guard let cluster else { return nil }
        guard case .exactly(let count) = shards.shardCount else {
            throw ValidationError("--cluster needs --shards N (every process of the bot must use the same count)")
        }
        guard leaseTTL >= 1, leaseTTL <= 600 else { throw ValidationError("--lease-ttl must be within 1...600 seconds") }
        guard checkpointInterval > 0, checkpointInterval <= 3600 else {
            throw ValidationError("--checkpoint-interval must be within 0...3600 seconds")
        }
        var database: PostgresClusterConfiguration
        do {
            database = try PostgresClusterConfiguration(url: cluster, environment: environment)
        } catch {
            throw ValidationError("--cluster: \(error)")
        }
        database.botKey = botKey
        return ClusterListenSettings(
            database: database, shardCount: count, leaseTTL: .milliseconds(Int64(leaseTTL * 1000)),
            checkpointInterval: .milliseconds(Int64(checkpointInterval * 1000)))
    }

    /// The settings these arguments describe (the token from `--token` or `DISCORD_TOKEN`).
    func settings(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ListenSettings {
        guard let raw = token ?? environment["DISCORD_TOKEN"], !raw.isEmpty else {
            throw ValidationError("no token: pass --token or set DISCORD_TOKEN")
        }
        let compression = compress?.compression ?? .preferred
        guard compression.isAvailable else {
            throw ValidationError("--compress zstd needs echord built with --traits Zstd (use zlib or none)")
        }
        let intents = GatewayIntents(rawValue: self.intents ?? GatewayIntents.nonPrivileged.rawValue)
        guard intents.subtracting(.documented).isEmpty else {
            throw ValidationError("--intents has undocumented bits (the gateway would close with 4013)")
        }
        guard apiURL.hasPrefix("http://") || apiURL.hasPrefix("https://") else {
            throw ValidationError("--api-url must be an http:// or https:// URL")
        }
        let names = events.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
            .filter { !$0.isEmpty }
        return ListenSettings(
            token: BotToken(raw), apiBaseURL: apiURL, shardCount: shards.shardCount, compression: compression,
            intents: intents, events: names.isEmpty ? nil : Set(names), format: format, shardCountLimit: maxShards,
            trustRoots: caFiles.map { .pemFile($0) })
    }

    func run() async throws {
        logging.bootstrap()
        let settings = try self.settings()
        let logger = Logger(label: "echord.listen")
        if !settings.intents.intersection(.privileged).isEmpty {
            logger.notice("privileged intents requested; enable them for the app or the gateway closes with 4014",
                          metadata: ["intents": "\(settings.intents.intersection(.privileged).names)"])
        }
        var metricsChannel: (any NIOCore.Channel)?
        if let metricsPort {
            let registry = MetricsEndpoint.bootstrap()
            do {
                let channel = try await MetricsEndpoint.serve(registry, host: metricsHost, port: metricsPort)
                printError("echord listen: metrics on http://\(metricsHost):\(channel.localAddress?.port ?? metricsPort)/metrics")
                metricsChannel = channel
            } catch {
                printError("echord listen: error: cannot serve metrics on \(metricsHost):\(metricsPort): \(error)")
                throw ExitCode(1)
            }
        }
        defer { metricsChannel?.close(promise: nil) }
        let sink = FileDescriptorSink()
        let duration = self.duration
        do {
            let summary: ListenSummary
            if let clusterSettings = try clusterSettings() {
                logger.info("cluster mode", metadata: ["database": "\(clusterSettings.database)"])
                summary = try await listenCluster(settings, cluster: clusterSettings, sink: sink, logger: logger) {
                    await waitForTermination(duration: duration)
                }
            } else {
                summary = try await listen(settings, sink: sink, logger: logger) {
                    await waitForTermination(duration: duration)
                }
            }
            printError("echord listen: \(summary.received) dispatches received, \(summary.printed) printed")
        } catch {
            printError("echord listen: error: \(listenErrorMessage(error, token: settings.token))")
            throw ExitCode(1)
        }
    }
}

/// What `echord listen` runs with.
struct ListenSettings: Sendable {
    var token: BotToken
    var apiBaseURL: String
    var shardCount: ShardManager.ShardCount = .automatic
    var compression: GatewayCompression = .preferred
    var intents: GatewayIntents = .nonPrivileged
    /// The dispatch names to print; nil prints every one.
    var events: Set<String>? = nil
    var format: ListenFormat = .json
    /// The largest shard count accepted from `GET /gateway/bot`.
    var shardCountLimit = ShardManager.defaultShardCountLimit
    /// Extra CAs to trust (`--ca-file`).
    var trustRoots: [TLSTrustRoot] = []

    /// The configuration every shard starts from: token, intents, compression, trusted CAs.
    var shard: ShardConfiguration {
        var shard = ShardConfiguration(token: token, intents: intents)
        shard.compression = compression
        shard.additionalTrustRoots = trustRoots
        return shard
    }
}

/// How `echord listen` prints dispatches.
enum ListenFormat: String, ExpressibleByArgument, Sendable, CaseIterable {
    case json, pretty
}

/// What a listen run saw.
struct ListenSummary: Sendable, Equatable {
    /// Dispatches received from every shard.
    var received: Int
    /// Dispatches printed (those `--events` let through).
    var printed: Int
}

/// Runs a ShardManager with `settings`, writes each dispatch to `sink` (flushed per dispatch) until
/// `stop` returns, then stops the shards (ending their sessions), prints what is left and returns.
///
/// - Throws: the manager's error: ``ShardError/fatalClose(_:)`` on a close code after which
///   reconnecting cannot help, ``GatewayDiscoveryError`` when discovery fails for good, and so on.
func listen(
    _ settings: ListenSettings, sink: any LineSink, logger: Logger, identifyQueue: (any IdentifyQueue)? = nil,
    configureShard: (@Sendable (inout ShardConfiguration) -> Void)? = nil,
    until stop: @escaping @Sendable () async -> Void
) async throws -> ListenSummary {
    var configuration = ShardManager.Configuration(shard: settings.shard)
    configuration.apiBaseURL = settings.apiBaseURL
    configuration.shardCount = settings.shardCount
    configuration.keepSessionsOnShutdown = false  // nothing resumes these sessions: end them (close 1000)
    configuration.perShard = configureShard
    configuration.shardCountLimit = settings.shardCountLimit
    let manager = ShardManager(configuration: configuration, identifyQueue: identifyQueue, logger: logger)
    let running = Task { try await manager.run() }
    let stopper = Task {
        await stop()
        logger.info("stopping")
        // Ends every stage at once: discovery, the session start wait, shards waiting for their
        // identify turn (they hold no socket), and the connected shards (closed with 1000).
        manager.stop()
    }
    defer { stopper.cancel() }
    // The merged stream ends when run() returns, after the last buffered dispatch.
    async let consumed = printDispatches(manager.events, settings: settings, sink: sink)
    let outcome = await withTaskCancellationHandler {
        await running.result
    } onCancel: {
        running.cancel()
    }
    let summary = await consumed
    if case .failure(let error) = outcome { throw error }
    return summary
}

/// Writes each dispatch of `events` that `settings.events` lets through to `sink` in
/// `settings.format` (flushed per dispatch) until the stream ends; returns what it saw.
func printDispatches(_ events: ShardEvents, settings: ListenSettings, sink: any LineSink) async -> ListenSummary {
    var summary = ListenSummary(received: 0, printed: 0)
    for await dispatch in events {
        summary.received += 1
        if let filter = settings.events, !filter.contains(dispatch.name) { continue }
        summary.printed += 1
        sink.write(settings.format == .json ? jsonLine(dispatch) : prettyLine(dispatch))
        sink.flush()
    }
    sink.flush()
    return summary
}

/// `{"shard":N,"s":SEQ,"t":"NAME","d":RAW}` and a newline; `d` is the payload bytes as received.
func jsonLine(_ dispatch: GatewayDispatch) -> [UInt8] {
    var out: [UInt8] = []
    let data = dispatch.data
    out.reserveCapacity(data.count + dispatch.name.utf8.count + 48)
    out.append(contentsOf: "{\"shard\":\(dispatch.shardID),\"s\":\(dispatch.sequence.map(String.init) ?? "null"),\"t\":".utf8)
    appendJSONString(dispatch.name, to: &out)
    out.append(contentsOf: ",\"d\":".utf8)
    if data.isEmpty { out.append(contentsOf: "null".utf8) } else { out.append(contentsOf: data) }
    out.append(contentsOf: "}\n".utf8)
    return out
}

/// A one-line summary: shard, sequence, name, payload size, and what the typed event says (for the
/// common events) or the start of the payload.
func prettyLine(_ dispatch: GatewayDispatch) -> [UInt8] {
    let data = dispatch.data
    var preview: String
    if let summary = summary(of: dispatch.event) {
        preview = summary
    } else {
        // Decode more bytes than shown, so the cut falls between characters, never inside one.
        preview = String(decoding: data.prefix(512), as: UTF8.self)
    }
    let flat = preview.map { $0.isNewline ? " " : $0 }
    preview = String(flat.prefix(96))
    if flat.count > 96 || (data.count > 512 && summary(of: dispatch.event) == nil) { preview += "…" }
    let line = "shard \(pad(String(dispatch.shardID), 3, right: true))  s=\(pad(dispatch.sequence.map(String.init) ?? "-", 6))  "
        + "\(pad(dispatch.name, 28))  \(pad("\(data.count) B", 8, right: true))  \(preview)\n"
    return Array(line.utf8)
}

/// A few words on the events people watch most; nil for the others (shown raw).
func summary(of event: GatewayEvent) -> String? {
    switch event {
    case .ready(let ready):
        "\(ready.user.username) in \(ready.guilds.count) guild(s), session \(ready.sessionID)"
    case .guildCreate(.available(let guild)):
        "\(guild.name) (\(guild.id)): \(guild.memberCount) members, \(guild.channels.count) channels"
    case .guildCreate(.unavailable(let guild)):
        "\(guild.id) unavailable"
    case .messageCreate(let message), .messageUpdate(let message):
        "\(message.author?.username ?? "?") in \(message.channelID): "
            + (message.content.isEmpty ? "(no content: needs the MESSAGE_CONTENT intent)" : message.content)
    case .presenceUpdate(let presence):
        "\(presence.user.id) is \(presence.status)"
    case .typingStart(let typing):
        "\(typing.userID) typing in \(typing.channelID)"
    case .failed(let failure):
        "could not decode: \(failure.error)"
    default:
        nil
    }
}

/// A readable explanation of why a listen run failed, with what to do about it; never contains the
/// token.
func listenErrorMessage(_ error: any Error, token: BotToken) -> String {
    let text: String
    switch error {
    case ShardError.fatalClose(let code):
        let advice: String = switch code.rawValue {
        case 4004: "check the token (--token or DISCORD_TOKEN)"
        case 4010, 4011: "check --shards (the bot needs more shards, or the count is wrong)"
        case 4012: "this Echord speaks API v10; the gateway refused it"
        case 4013: "check --intents"
        case 4014: "enable the privileged intents for the app in the Developer Portal, or leave them out of --intents"
        default: "reconnecting cannot help"
        }
        text = "\(error); \(advice)"
    case GatewayDiscoveryError.unauthorized:
        text = "\(error); check the token (--token or DISCORD_TOKEN)"
    case GatewayDiscoveryError.tlsFailed:
        text = "gateway discovery failed: \(error); if the server uses a private CA, pass it with --ca-file"
    case let error as GatewayDiscoveryError:
        text = "gateway discovery failed: \(error)"
    case let error as TLSTrustRootError:
        text = "--ca-file: \(error)"
    default:
        text = "\(error)"
    }
    return BotToken.redacting(token.rawValue, in: text)
}

/// `--shards auto|N`.
struct ShardCountArgument: ExpressibleByArgument, Sendable {
    let shardCount: ShardManager.ShardCount
    static let automatic = ShardCountArgument(shardCount: .automatic)

    init(shardCount: ShardManager.ShardCount) { self.shardCount = shardCount }

    init?(argument: String) {
        if argument == "auto" {
            shardCount = .automatic
        } else if let count = Int(argument), count >= 1 {
            shardCount = .exactly(count)
        } else {
            return nil
        }
    }

    var defaultValueDescription: String {
        switch shardCount {
        case .automatic: "auto"
        case .exactly(let n): String(n)
        }
    }
}

/// `--compress none|zlib|zstd` (or the full names zlib-stream, zstd-stream).
struct CompressionArgument: ExpressibleByArgument, Sendable {
    let compression: GatewayCompression

    init?(argument: String) {
        switch argument {
        case "none": compression = .none
        case "zlib", "zlib-stream": compression = .zlibStream
        case "zstd", "zstd-stream": compression = .zstdStream
        default: return nil
        }
    }

    static var allValueStrings: [String] { ["none", "zlib", "zstd"] }

    var defaultValueDescription: String {
        switch compression {
        case .none: "none"
        case .zlibStream: "zlib"
        case .zstdStream: "zstd"
        }
    }
}
