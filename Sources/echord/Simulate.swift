import ArgumentParser
import EchordModels
import EchordSimulator
import Foundation
import Logging

/// `echord simulate`: serves the gateway simulator until SIGTERM or Ctrl-C.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a local Discord gateway simulator (REST discovery, gateway, control API).")

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0 picks a free one).") var port = 8080
    @Option(help: "Scripted scenario played for every session: basic or full.") var scenario: SimulatorScenario?
    @Option(help: "heartbeat_interval in HELLO, ms (default 45000; 2000 with a scenario).")
    var heartbeatInterval: Int?
    @Option(help: "Guilds in the world (default 1; 2 with a scenario).") var guilds: Int?
    @Option(help: "Text channels per guild.") var channels = 2
    @Option(help: "Members per guild, besides the bot.") var members = 10
    @Option(help: "Shard count GET /gateway/bot recommends.") var shards = 1
    @Option(help: "session_start_limit.max_concurrency (identify buckets).") var maxConcurrency = 1
    @Option(help: "session_start_limit.total and starting remaining.") var sessionStartLimit = 1000
    @Option(help: "ms an identify bucket stays busy (Discord: 5000).") var identifyBucket: Int64 = 5000
    @Option(help: "Most guilds per shard before IDENTIFY gets 4011.") var maxGuildsPerShard = 2500
    @Option(help: "ms a session stays resumable after its socket drops.") var resumeWindow: Int64 = 180_000
    @Option(help: "Synthetic events per second across all guilds (default 0: off; 20 with --chaos).")
    var traffic: Double?
    @Option(help: "Split each zlib-stream message into up to N WebSocket frames.") var zlibFrames = 1
    @Option(parsing: .upToNextOption, help: "Privileged intents NOT enabled for the app: members, presences, message_content.")
    var disablePrivileged: [String] = []
    @Option(help: "Accept only this token (repeatable; default: any well-formed bot token).")
    var token: [String] = []
    @Flag(help: "Keep the JSON of frames the simulator sends in the frame log too.") var logServerPayloads = false
    @Option(help: "Stop after this many seconds.") var duration: Double?
    @Flag(help: "Serve REST on https:// and the gateway on wss:// (same port), with a self-signed certificate for 127.0.0.1, ::1 and localhost made at start (or --tls-cert/--tls-key).")
    var tls = false
    @Option(help: ArgumentHelp("PEM certificate chain to serve (with --tls-key; implies --tls).", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?
    @Option(help: ArgumentHelp("Write the certificate served (PEM) here, for clients to trust (e.g. echord listen --ca-file).", valueName: "file"))
    var tlsCertOut: String?
    @Option(help: "Chaos mode: inject faults on the simulator's own schedule, RATE faults per minute per live session; print the ledger's report at the end.")
    var chaos: Double?
    @Option(help: "Seed of the chaos schedule (which session, which fault, when).") var seed: UInt64 = 1
    @Option(parsing: .singleValue, help: "Faults chaos mode chooses from (comma-separated, repeatable; default all): \(ChaosFaultKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var chaosFaults: [String] = []
    @Option(help: "Seconds after which chaos mode stops injecting (the report's window ends there).")
    var chaosDuration: Double?
    @Option(help: "Report format: text or json.") var format = ReportFormat.text
    @OptionGroup var logging: LoggingOptions

    /// How the chaos report is printed.
    enum ReportFormat: String, ExpressibleByArgument {
        case text, json
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        guard heartbeatInterval.map({ $0 > 0 }) ?? true else { throw ValidationError("--heartbeat-interval must be > 0") }
        guard (guilds ?? 1) >= 0, channels >= 1, members >= 0 else {
            throw ValidationError("--guilds and --members must be ≥ 0, --channels ≥ 1")
        }
        guard shards >= 1, maxConcurrency >= 1 else { throw ValidationError("--shards and --max-concurrency must be ≥ 1") }
        guard (traffic ?? 0) >= 0 else { throw ValidationError("--traffic must be ≥ 0") }
        if let chaos, !(chaos >= 0 && chaos.isFinite) { throw ValidationError("--chaos must be ≥ 0 faults per minute") }
        if let chaosDuration, !(chaosDuration > 0) { throw ValidationError("--chaos-duration must be > 0") }
        _ = try chaosKinds()
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard tlsCertOut == nil || usesTLS else { throw ValidationError("--tls-cert-out needs --tls") }
        for name in disablePrivileged where Self.privileged[name] == nil {
            throw ValidationError("unknown privileged intent '\(name)': use members, presences or message_content")
        }
    }

    /// The `--chaos-faults` kinds (empty: all).
    func chaosKinds() throws -> [ChaosFaultKind] {
        try chaosFaults.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.map { name in
                guard let kind = ChaosFaultKind(rawValue: name) else {
                    throw ValidationError("unknown chaos fault '\(name)': use \(ChaosFaultKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return kind
            }
    }

    static let privileged: [String: GatewayIntents] = [
        "members": .guildMembers, "presences": .guildPresences, "message_content": .messageContent,
    ]

    /// Whether TLS is on (`--tls`, or a certificate given).
    var usesTLS: Bool { tls || tlsCert != nil }

    /// The TLS setting: nil, a generated certificate, or the files given (read here).
    func makeTLSConfiguration() throws -> SimulatorTLSConfiguration? {
        guard usesTLS else { return nil }
        if let tlsCert, let tlsKey { return try .pemFiles(certificateChain: tlsCert, privateKey: tlsKey) }
        return .selfSigned
    }

    func makeConfiguration() -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.scenario = scenario
        configuration.heartbeatIntervalMilliseconds =
            heartbeatInterval ?? (scenario != nil ? SimulatorScenario.heartbeatIntervalMilliseconds : 45_000)
        configuration.world.guildCount = guilds ?? (scenario != nil ? SimulatorScenario.guildCount : 1)
        configuration.world.textChannelsPerGuild = channels
        configuration.world.membersPerGuild = members
        configuration.recommendedShards = shards
        configuration.maxConcurrency = maxConcurrency
        configuration.sessionStartLimitTotal = sessionStartLimit
        configuration.sessionStartLimitRemaining = sessionStartLimit
        configuration.identifyBucketMilliseconds = identifyBucket
        configuration.maxGuildsPerShard = maxGuildsPerShard
        configuration.sessionResumeWindowMilliseconds = resumeWindow
        configuration.traffic.eventsPerSecond = traffic ?? (chaos != nil ? 20 : 0)
        if let chaos {
            configuration.chaos = ChaosConfiguration(
                faultsPerMinute: chaos, seed: seed, faults: (try? chaosKinds()) ?? [],
                durationMilliseconds: chaosDuration.map { Int64($0 * 1000) })
        }
        configuration.zlibFramesPerMessage = zlibFrames
        configuration.acceptedTokens = Set(token)
        configuration.logServerPayloads = logServerPayloads
        for name in disablePrivileged { configuration.enabledPrivilegedIntents.remove(Self.privileged[name]!) }
        return configuration
    }

    func run() async throws {
        logging.bootstrap()
        let logger = Logger(label: "echord.simulator")
        var configuration = makeConfiguration()
        let simulator: GatewaySimulator
        do {
            configuration.tls = try makeTLSConfiguration()
            simulator = try await GatewaySimulator.start(configuration: configuration, logger: logger)
        } catch let error as SimulatorTLSError {
            printError("echord simulate: error: \(error)")
            throw ExitCode(1)
        }
        if let tlsCertOut, let pem = simulator.certificatePEM {
            do {
                try Data(pem.utf8).write(to: URL(fileURLWithPath: tlsCertOut), options: .atomic)
            } catch {
                printError("echord simulate: error: cannot write --tls-cert-out \(tlsCertOut): \(error.localizedDescription)")
                try await simulator.shutdown()
                throw ExitCode(1)
            }
        }
        if let pem = simulator.certificatePEM {
            let origin = tlsCert.map { "from \($0)" } ?? "self-signed, made at start"
            print("TLS certificate (\(origin))" + (tlsCertOut.map { " written to \($0)" } ?? ""))
            if tlsCertOut == nil { print(pem, terminator: pem.hasSuffix("\n") ? "" : "\n") }
        }
        let curlTrust = simulator.isTLS ? " --cacert \(tlsCertOut ?? "CERT.pem")" : ""
        print("""
            echord simulator on \(simulator.baseURL)
              REST     \(simulator.apiBaseURL)   (GET /gateway, /gateway/bot, /users/@me, /oauth2/applications/@me)
              gateway  \(simulator.gatewayURL)?v=10&encoding=json[&compress=zlib-stream|zstd-stream]
              control  \(simulator.baseURL)/control   (e.g. curl\(curlTrust) -X POST '\(simulator.baseURL)/control/reconnect?shard=0')
            """)
        if let chaos = simulator.configuration.chaos {
            print("  chaos    \(chaos.faultsPerMinute) faults/min per session, seed \(chaos.seed), "
                  + "\(chaos.kinds.map(\.rawValue).joined(separator: ",")); report: GET \(simulator.baseURL)/control/chaos/report")
        }
        fflush(nil)  // a pipe (a script waiting for the URL) gets the banner now, not at exit
        await waitForTermination(duration: duration)
        guard simulator.configuration.chaos != nil else {
            try await simulator.shutdown()
            return
        }
        let report = try await simulator.chaosReport()
        try await simulator.shutdown()
        print(format == .json ? report.json.text : report.text)
        fflush(nil)
        // A soak run in a script fails when the client lost what Discord's rules forbid.
        if !report.passed { throw ExitCode(1) }
    }
}
