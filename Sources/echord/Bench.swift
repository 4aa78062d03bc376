import ArgumentParser
import EchordGateway
import EchordModels
import EchordSimulator
import Foundation
import Logging
import NIOConcurrencyHelpers

/// `echord bench`: the simulator and N shards in one process, measured.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the embedded simulator and N shards in one process and report events/s, memory and CPU.",
        discussion: """
            The shards connect (all identify at once: max_concurrency is N), then the run is measured \
            for --duration seconds: events received, resident memory (VmRSS), memory per shard (RSS \
            growth since before the shards started, divided by N; it includes the simulator's side of \
            each session) and CPU seconds (user + system, this process, during the measurement). \
            Exit status 1 when not every shard reached ready.
            """)

    @Option(help: "Number of shards.") var shards = 16
    @Option(help: "Seconds measured once every shard is ready.") var duration: Double = 10
    @Option(help: "Synthetic events per second from the simulator, across all shards.") var rate: Double = 1000
    @Option(help: "Transport compression: none, zlib (zlib-stream) or zstd (zstd-stream).") var compress = CompressionArgument(argument: "zlib")!
    @Option(help: "Seconds to wait for every shard to be ready before measuring anyway.") var readyTimeout: Double = 120
    @Option(help: "Output: text or json (one object).") var format = BenchFormat.text
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...5000).contains(shards) else { throw ValidationError("--shards must be 1…5000") }
        guard duration > 0, readyTimeout > 0 else { throw ValidationError("--duration and --ready-timeout must be > 0") }
        guard rate >= 0 else { throw ValidationError("--rate must be ≥ 0") }
        guard compress.compression.isAvailable else { throw ValidationError("--compress zstd needs echord built with --traits Zstd") }
    }

    func run() async throws {
        var logging = self.logging
        if logging.logLevel == .info { logging.logLevel = .warning }  // the report is the output
        logging.bootstrap()
        let settings = BenchSettings(
            shards: shards, duration: .milliseconds(Int64(duration * 1000)), rate: rate,
            compression: compress.compression, readyTimeout: .milliseconds(Int64(readyTimeout * 1000)))
        let report = try await bench(settings, logger: Logger(label: "echord.bench"))
        let sink = FileDescriptorSink()
        sink.write(line: format == .json ? report.json : report.text)
        sink.flush()
        if report.shardsReady < report.shards {
            printError("echord bench: only \(report.shardsReady) of \(report.shards) shards were ready")
            throw ExitCode(1)
        }
    }
}

enum BenchFormat: String, ExpressibleByArgument, Sendable, CaseIterable { case text, json }

struct BenchSettings: Sendable {
    var shards: Int
    var duration: Duration
    var rate: Double
    var compression: GatewayCompression = .zlibStream
    var readyTimeout: Duration = .seconds(120)
}

/// What `echord bench` measured.
struct BenchReport: Sendable {
    var shards: Int
    var shardsReady: Int
    /// Dispatches received during the measurement.
    var events: Int
    var eventsPerSecond: Double
    /// VmRSS at the end of the measurement; nil when /proc/self/status cannot be read.
    var residentMemoryBytes: Int?
    /// RSS growth from before the shards started to the end of the measurement, per shard.
    var memoryPerShardBytes: Int?
    /// User + system CPU of the process during the measurement.
    var cpuSeconds: Double
    /// The measurement's length.
    var durationSeconds: Double
    /// How long the shards took to be ready.
    var readySeconds: Double

    var json: String {
        func number(_ value: Double) -> String { value.isFinite ? String(format: "%.3f", value) : "null" }
        return "{\"shards\":\(shards),\"shards_ready\":\(shardsReady),\"events\":\(events),"
            + "\"events_per_second\":\(number(eventsPerSecond)),"
            + "\"resident_memory_bytes\":\(residentMemoryBytes.map(String.init) ?? "null"),"
            + "\"memory_per_shard_bytes\":\(memoryPerShardBytes.map(String.init) ?? "null"),"
            + "\"cpu_seconds\":\(number(cpuSeconds)),\"duration_seconds\":\(number(durationSeconds)),"
            + "\"ready_seconds\":\(number(readySeconds))}"
    }

    var text: String {
        func bytes(_ value: Int?) -> String {
            guard let value else { return "unknown" }
            return abs(value) >= 1 << 20 ? String(format: "%.1f MiB", Double(value) / 1_048_576)
                : String(format: "%.1f KiB", Double(value) / 1024)
        }
        return """
            shards            \(shards)
            shards ready      \(shardsReady) (in \(String(format: "%.2f", readySeconds)) s)
            events            \(events)
            events/s          \(String(format: "%.1f", eventsPerSecond))
            resident memory   \(bytes(residentMemoryBytes))
            memory per shard  \(bytes(memoryPerShardBytes))
            cpu seconds       \(String(format: "%.2f", cpuSeconds)) (\(String(format: "%.1f", durationSeconds > 0 ? cpuSeconds / durationSeconds * 100 : 0)) % of a core)
            duration          \(String(format: "%.1f", durationSeconds)) s
            """
    }
}

/// Starts a simulator and a ShardManager of `settings.shards` shards against it, waits until every
/// shard is ready (at most `readyTimeout`), measures for `duration`, then stops both.
func bench(_ settings: BenchSettings, logger: Logger) async throws -> BenchReport {
    let n = settings.shards
    var simulatorConfiguration = SimulatorConfiguration()
    simulatorConfiguration.world.guildCount = n
    simulatorConfiguration.recommendedShards = n
    simulatorConfiguration.maxConcurrency = n
    simulatorConfiguration.identifyBucketMilliseconds = 1000
    simulatorConfiguration.sessionStartLimitTotal = max(1000, n * 4)
    simulatorConfiguration.sessionStartLimitRemaining = max(1000, n * 4)
    simulatorConfiguration.traffic.eventsPerSecond = settings.rate
    let simulator = try await GatewaySimulator.start(configuration: simulatorConfiguration, logger: logger)
    let rssBefore = residentMemoryBytes()

    var configuration = ShardManager.Configuration(
        token: BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw.bench.echord"),
        intents: [.guilds, .guildMessages, .guildMessageTyping, .guildMessageReactions, .messageContent])
    configuration.apiBaseURL = simulator.apiBaseURL
    configuration.shardCount = .exactly(n)
    configuration.compression = settings.compression
    configuration.keepSessionsOnShutdown = false
    let manager = ShardManager(configuration: configuration, logger: logger)
    let received = NIOLockedValueBox(0)
    let clock = ContinuousClock()
    let started = clock.now
    async let running: Void = manager.run()
    async let counted: Void = {
        for await _ in manager.events { received.withLockedValue { $0 += 1 } }
    }()

    func readyCount() -> Int { manager.statuses.values.filter { $0 == .ready }.count }
    let readyDeadline = started + settings.readyTimeout
    while readyCount() < n, clock.now < readyDeadline {
        try? await Task.sleep(for: .milliseconds(20))
    }
    let readyTime = started.duration(to: clock.now)

    let eventsBefore = received.withLockedValue { $0 }
    let cpuBefore = cpuSeconds()
    let measureStart = clock.now
    try? await Task.sleep(for: settings.duration)
    let measured = measureStart.duration(to: clock.now)
    let eventsAfter = received.withLockedValue { $0 }
    let cpuAfter = cpuSeconds()
    let rssAfter = residentMemoryBytes()
    let ready = readyCount()

    manager.stop()
    let outcome: Result<Void, Error>
    do {
        try await running
        outcome = .success(())
    } catch {
        outcome = .failure(error)
    }
    await counted
    try await simulator.shutdown()
    try outcome.get()

    let seconds = Double(measured.nanosecondsValue) / 1e9
    return BenchReport(
        shards: n, shardsReady: ready, events: eventsAfter - eventsBefore,
        eventsPerSecond: seconds > 0 ? Double(eventsAfter - eventsBefore) / seconds : 0,
        residentMemoryBytes: rssAfter,
        memoryPerShardBytes: rssBefore.flatMap { before in rssAfter.map { ($0 - before) / n } },
        cpuSeconds: cpuAfter - cpuBefore, durationSeconds: seconds,
        readySeconds: Double(readyTime.nanosecondsValue) / 1e9)
}

/// VmRSS from /proc/self/status, in bytes; nil where it cannot be read.
func residentMemoryBytes() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let kilobytes = Int(fields[1]) else { return nil }
        return kilobytes * 1024
    }
    return nil
}

/// User + system CPU time of this process so far (getrusage).
func cpuSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
    let who = RUSAGE_SELF.rawValue
    #else
    let who = RUSAGE_SELF
    #endif
    guard getrusage(who, &usage) == 0 else { return 0 }
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
