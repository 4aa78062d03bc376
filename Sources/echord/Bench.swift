import ArgumentParser
import EchordGateway
import EchordModels
import Foundation
import Logging
import NIOConcurrencyHelpers

/// `echord bench`: N shards against a simulator in another process; the client alone is measured.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run N shards against a simulator in a child process (or --api-url) and report the client's memory per shard, CPU and events/s.",
        discussion: """
            The simulator runs in a child process (this binary's `echord simulate`), or --api-url points at \
            one already running (plain http://, with its control API), so only the client is measured. \
            One shard connects and receives --traffic-bytes of dispatches; its idle RSS is the baseline. Then \
            the other N-1 shards connect (all identify at once: max_concurrency is N). Memory per shard is \
            the RSS growth per added shard, (RSS with N shards - RSS with 1) / (N-1): idle after READY, then \
            after every shard has received --traffic-bytes of inflated dispatches and gone idle. CPU is \
            measured while idle for --duration seconds; with --rate R the simulator then sends R events/s \
            for --duration seconds (events/s and CPU under load). Exit status 1 when not every shard \
            reached ready.
            """)

    @Option(help: "Number of shards (2 or more).") var shards = 16
    @Option(help: "Seconds of each measurement (idle CPU; traffic with --rate).") var duration: Double = 10
    @Option(help: "Synthetic events per second across all shards in a load phase after the memory figures (0: none).") var rate: Double = 0
    @Option(help: "Inflated dispatch bytes every shard receives before the after-traffic figure.") var trafficBytes = 65536
    @Option(help: "Seconds to let the process settle before each RSS reading.") var settle: Double = 3
    @Option(help: "Transport compression: none, zlib (zlib-stream) or zstd (zstd-stream).") var compress = CompressionArgument(argument: "zlib")!
    @Option(help: "Seconds to wait for every shard to be ready before measuring anyway.") var readyTimeout: Double = 180
    @Option(help: ArgumentHelp("REST base URL of a simulator already running (http://HOST:PORT/api/v10); default: start one as a child process.", valueName: "url"))
    var apiURL: String?
    @Option(help: ArgumentHelp("For a heap profiler: print the RSS and exit at once at this point (idle: every shard ready and idle; traffic: after the traffic), so what is live shows as leaked.", valueName: "point"))
    var exitAt: BenchExitPoint?
    @Option(help: "Output: text or json (one object).") var format = BenchFormat.text
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (2...5000).contains(shards) else { throw ValidationError("--shards must be 2…5000") }
        guard duration > 0, readyTimeout > 0, settle >= 0 else {
            throw ValidationError("--duration and --ready-timeout must be > 0, --settle ≥ 0")
        }
        guard rate >= 0, trafficBytes >= 0 else { throw ValidationError("--rate and --traffic-bytes must be ≥ 0") }
        guard compress.compression.isAvailable else { throw ValidationError("--compress zstd needs echord built with --traits Zstd") }
        if let apiURL, SimulatorControl(apiBaseURL: apiURL) == nil {
            throw ValidationError("--api-url must be http://HOST:PORT/api/v10 (a plain simulator)")
        }
    }

    func run() async throws {
        var logging = self.logging
        if logging.logLevel == .info { logging.logLevel = .warning }  // the report is the output
        logging.bootstrap()
        let settings = BenchSettings(
            shards: shards, duration: .milliseconds(Int64(duration * 1000)), rate: rate,
            compression: compress.compression, readyTimeout: .milliseconds(Int64(readyTimeout * 1000)),
            trafficBytes: trafficBytes, settle: .milliseconds(Int64(settle * 1000)), apiBaseURL: apiURL, exitAt: exitAt)
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

/// Where `echord bench --exit-at` ends the process (for a heap profiler).
enum BenchExitPoint: String, ExpressibleByArgument, Sendable, CaseIterable { case idle, traffic }

struct BenchSettings: Sendable {
    var shards: Int
    var duration: Duration
    var rate: Double
    var compression: GatewayCompression = .zlibStream
    var readyTimeout: Duration = .seconds(180)
    /// Inflated bytes of dispatches each shard receives before the after-traffic reading.
    var trafficBytes = 65536
    /// The pause before each RSS reading.
    var settle: Duration = .seconds(3)
    /// A simulator already running; nil starts `echord simulate` as a child process.
    var apiBaseURL: String?
    /// The `echord` binary that serves the child simulator (default: this process's executable).
    var executable = "/proc/self/exe"
    /// Exit the process at this point (for a heap profiler).
    var exitAt: BenchExitPoint?
}

/// What `echord bench` measured (of the client process only).
struct BenchReport: Sendable {
    var shards: Int
    var shardsReady: Int
    var compression: GatewayCompression
    /// VmRSS with one shard ready, after its traffic, idle (the baseline).
    var residentOneShardBytes: Int?
    /// VmRSS with every shard ready and idle, before the others' traffic.
    var residentIdleBytes: Int?
    /// VmRSS once every shard has received its traffic and gone idle.
    var residentAfterTrafficBytes: Int?
    /// (idle RSS with N shards - RSS with 1) / (N-1).
    var memoryPerShardIdleBytes: Int?
    /// (after-traffic RSS with N shards - RSS with 1) / (N-1).
    var memoryPerShardAfterTrafficBytes: Int?
    /// Inflated bytes each shard received before the after-traffic reading.
    var trafficBytesPerShard: Int
    /// User + system CPU of the process while idle, and the idle measurement's length.
    var idleCPUSeconds: Double
    var idleSeconds: Double
    /// Dispatches received in the load phase (`--rate`), its CPU and length (zero without one).
    var events: Int
    var eventsPerSecond: Double
    var loadCPUSeconds: Double
    var loadSeconds: Double
    /// How long the N-1 shards took to be ready.
    var readySeconds: Double

    var json: String {
        func number(_ value: Double) -> String { value.isFinite ? String(format: "%.3f", value) : "null" }
        func optional(_ value: Int?) -> String { value.map(String.init) ?? "null" }
        return "{\"shards\":\(shards),\"shards_ready\":\(shardsReady),\"compression\":\"\(compression.rawValue)\","
            + "\"resident_one_shard_bytes\":\(optional(residentOneShardBytes)),"
            + "\"resident_memory_bytes\":\(optional(residentIdleBytes)),"
            + "\"resident_after_traffic_bytes\":\(optional(residentAfterTrafficBytes)),"
            + "\"memory_per_shard_bytes\":\(optional(memoryPerShardIdleBytes)),"
            + "\"memory_per_shard_after_traffic_bytes\":\(optional(memoryPerShardAfterTrafficBytes)),"
            + "\"traffic_bytes_per_shard\":\(trafficBytesPerShard),"
            + "\"idle_cpu_seconds\":\(number(idleCPUSeconds)),\"idle_seconds\":\(number(idleSeconds)),"
            + "\"events\":\(events),\"events_per_second\":\(number(eventsPerSecond)),"
            + "\"cpu_seconds\":\(number(loadCPUSeconds)),\"duration_seconds\":\(number(loadSeconds)),"
            + "\"ready_seconds\":\(number(readySeconds))}"
    }

    var text: String {
        func bytes(_ value: Int?) -> String {
            guard let value else { return "unknown" }
            return abs(value) >= 1 << 20 ? String(format: "%.1f MiB", Double(value) / 1_048_576)
                : String(format: "%.1f KiB", Double(value) / 1024)
        }
        func share(_ cpu: Double, _ seconds: Double) -> String {
            String(format: "%.2f s (%.2f %% of a core)", cpu, seconds > 0 ? cpu / seconds * 100 : 0)
        }
        var lines = [
            "shards                   \(shards) (\(compression.rawValue))",
            "shards ready             \(shardsReady) (\(String(format: "%.2f", readySeconds)) s for the last \(shards - 1))",
            "resident, 1 shard        \(bytes(residentOneShardBytes))",
            "resident, idle           \(bytes(residentIdleBytes))",
            "resident, after traffic  \(bytes(residentAfterTrafficBytes))",
            "memory per shard, idle   \(bytes(memoryPerShardIdleBytes))",
            "  after traffic          \(bytes(memoryPerShardAfterTrafficBytes)) (\(trafficBytesPerShard / 1024) KiB inflated per shard)",
            "idle cpu                 \(share(idleCPUSeconds, idleSeconds)) in \(String(format: "%.1f", idleSeconds)) s",
        ]
        if loadSeconds > 0 {
            lines.append("events (load)            \(events), \(String(format: "%.1f", eventsPerSecond))/s")
            lines.append("load cpu                 \(share(loadCPUSeconds, loadSeconds)) in \(String(format: "%.1f", loadSeconds)) s")
        }
        return lines.joined(separator: "\n")
    }
}

/// Runs the bench: a simulator (child process unless `settings.apiBaseURL`), one shard as the
/// baseline, then N-1 more, with RSS readings idle and after traffic (see ``Bench``).
func bench(_ settings: BenchSettings, logger: Logger) async throws -> BenchReport {
    let n = settings.shards
    let child: SimulatorChild?
    let apiBaseURL: String
    if let given = settings.apiBaseURL {
        child = nil
        apiBaseURL = given
    } else {
        let started = try SimulatorChild.start(executable: settings.executable, arguments: [
            "simulate", "--port", "0", "--guilds", "\(n)", "--shards", "\(n)", "--max-concurrency", "\(n)",
            "--identify-bucket", "1000", "--session-start-limit", "\(max(1000, n * 4))", "--heartbeat-interval", "41250",
            "--log-level", "warning",
        ])
        child = started
        apiBaseURL = started.apiBaseURL
    }
    defer { child?.terminate() }
    guard let control = SimulatorControl(apiBaseURL: apiBaseURL) else {
        throw ValidationError("--api-url must be http://HOST:PORT/api/v10 (a plain simulator)")
    }

    let received = NIOLockedValueBox(0)
    func makeManager(ids: [Int]) -> ShardManager {
        var configuration = ShardManager.Configuration(
            token: BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw.bench.echord"),
            intents: [.guilds, .guildMessages, .guildMessageTyping, .guildMessageReactions, .messageContent])
        configuration.apiBaseURL = apiBaseURL
        configuration.shardCount = .exactly(n)
        configuration.shardIDs = ids
        configuration.shard.compression = settings.compression
        configuration.keepSessionsOnShutdown = false
        return ShardManager(configuration: configuration, logger: logger)
    }
    let first = makeManager(ids: [0])
    let rest = makeManager(ids: Array(1..<n))
    let clock = ContinuousClock()

    func readyCount(_ manager: ShardManager) -> Int { manager.statuses.values.filter { $0 == .ready }.count }
    func waitUntil(timeout: Duration, _ condition: () -> Bool) async {
        let deadline = clock.now + timeout
        while !condition(), clock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    }
    /// Sends every session enough distinct dispatches to make `settings.trafficBytes` inflated bytes,
    /// then waits until `sessions` sessions' worth has arrived.
    func sendTraffic(sessions: Int) async throws {
        guard settings.trafficBytes > 0 else { return }
        let pieces = benchPadding(totalBytes: settings.trafficBytes)
        let before = received.withLockedValue { $0 }
        for piece in pieces { try control.post("/control/dispatch?t=ECHORD_BENCH_PADDING", body: piece) }
        let expected = before + pieces.count * sessions
        await waitUntil(timeout: settings.readyTimeout) { received.withLockedValue { $0 } >= expected }
    }

    return try await withThrowingTaskGroup(of: Void.self) { group in
        func start(_ manager: ShardManager) {
            group.addTask { try await manager.run() }
            group.addTask { for await _ in manager.events { received.withLockedValue { $0 += 1 } } }
        }
        start(first)
        do {
            // The baseline: one shard, ready, with its traffic, idle.
            await waitUntil(timeout: settings.readyTimeout) { readyCount(first) == 1 }
            try await sendTraffic(sessions: 1)
            try? await Task.sleep(for: settings.settle)
            let rssOne = residentMemoryBytes()

            // N-1 more shards, idle after READY.
            start(rest)
            let restStarted = clock.now
            await waitUntil(timeout: settings.readyTimeout) { readyCount(rest) == n - 1 }
            let readyTime = restStarted.duration(to: clock.now)
            try? await Task.sleep(for: settings.settle)
            let rssIdle = residentMemoryBytes()
            if settings.exitAt == .idle { exitForProfiler(child: child, rss: rssIdle, one: rssOne, shards: n) }
            let cpuBefore = cpuSeconds()
            let idleStart = clock.now
            try? await Task.sleep(for: settings.duration)
            let idleTime = idleStart.duration(to: clock.now)
            let idleCPU = cpuSeconds() - cpuBefore

            // Every shard's traffic, then idle again.
            try await sendTraffic(sessions: n)
            try? await Task.sleep(for: settings.settle)
            let rssTraffic = residentMemoryBytes()
            if settings.exitAt == .traffic { exitForProfiler(child: child, rss: rssTraffic, one: rssOne, shards: n) }
            let ready = readyCount(first) + readyCount(rest)

            // Throughput, with --rate.
            var events = 0
            var loadCPU = 0.0
            var loadTime = Duration.zero
            if settings.rate > 0 {
                try control.post("/control/traffic?rate=\(settings.rate)", body: [])
                let eventsBefore = received.withLockedValue { $0 }
                let cpuLoadBefore = cpuSeconds()
                let loadStart = clock.now
                try? await Task.sleep(for: settings.duration)
                loadTime = loadStart.duration(to: clock.now)
                events = received.withLockedValue { $0 } - eventsBefore
                loadCPU = cpuSeconds() - cpuLoadBefore
                try control.post("/control/traffic?rate=0", body: [])
            }
            first.stop()
            rest.stop()
            try await group.waitForAll()

            func perShard(_ total: Int?) -> Int? {
                guard let total, let rssOne else { return nil }
                return (total - rssOne) / (n - 1)
            }
            func seconds(_ duration: Duration) -> Double { duration.seconds }
            return BenchReport(
                shards: n, shardsReady: ready, compression: settings.compression, residentOneShardBytes: rssOne,
                residentIdleBytes: rssIdle, residentAfterTrafficBytes: rssTraffic, memoryPerShardIdleBytes: perShard(rssIdle),
                memoryPerShardAfterTrafficBytes: perShard(rssTraffic), trafficBytesPerShard: settings.trafficBytes,
                idleCPUSeconds: idleCPU, idleSeconds: seconds(idleTime), events: events,
                eventsPerSecond: loadTime > .zero ? Double(events) / seconds(loadTime) : 0, loadCPUSeconds: loadCPU,
                loadSeconds: seconds(loadTime), readySeconds: seconds(readyTime))
        } catch {
            first.stop()
            rest.stop()
            throw error
        }
    }
}

/// Ends the process at once, shards still connected, so a heap profiler reports what is live as
/// leaked; the child simulator is ended first.
func exitForProfiler(child: SimulatorChild?, rss: Int?, one: Int?, shards: Int) -> Never {
    if let rss, let one {
        print("exiting for the profiler: RSS \(rss / 1024) KiB, \((rss - one) / (shards - 1) / 1024) KiB per shard over one shard")
    }
    fflush(nil)
    child?.terminate()
    exit(0)
}

/// JSON `d` objects of about 8 KiB each (words from a fixed generator, so each one differs and the
/// inflate window is really used) adding up to at least `totalBytes`.
func benchPadding(totalBytes: Int) -> [[UInt8]] {
    let words = ["echord", "gateway", "shard", "resume", "heartbeat", "zlib", "swift", "event", "the", "a", "guild", "channel"]
    var random = SplitMix64(seed: 12)
    var pieces: [[UInt8]] = []
    var total = 0
    while total < totalBytes {
        var text = ""
        while text.utf8.count < 8192 { text += words[Int(random.next() % UInt64(words.count))] + " " }
        let piece = Array("{\"padding\":\"\(text)\"}".utf8)
        total += piece.count
        pieces.append(piece)
    }
    return pieces
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
