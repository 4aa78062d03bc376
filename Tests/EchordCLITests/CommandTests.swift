import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

@testable import echord

/// The built `echord` binary run as a subprocess: exit status and output.
@Suite("echord commands (subprocess)", .timeLimit(.minutes(3 * TestTime.scale)))
struct CommandTests {
    @Test("echord (demo) --duration: every shard ready, exit 0")
    func demo() async throws {
        let child = try ChildProcess(arguments: ["--shards", "2", "--rate", "50", "--duration", "10"])
        let status = try await child.waitForExit()
        #expect(status == 0, "stderr: \(child.stderr)")
        #expect(child.stdout.contains("2 of 2 shards reached ready"))
    }

    @Test("echord simulate --port 0: serves /api/v10/gateway/bot, stops on SIGTERM with exit 0")
    func simulate() async throws {
        let child = try ChildProcess(arguments: ["simulate", "--port", "0", "--shards", "3", "--log-level", "warning"])
        var base = ""
        do {
            try await eventually("the banner") {
                guard let line = child.stdout.split(separator: "\n").first(where: { $0.hasPrefix("echord simulator on ") }) else {
                    return false
                }
                base = String(line.dropFirst("echord simulator on ".count))
                return true
            }
            let info = try await GatewayDiscovery(apiBaseURL: base + "/api/v10", token: BotToken(testToken), maxAttempts: 1)
                .gatewayBot()
            #expect(info.shards == 3)
            #expect(info.url.hasPrefix("ws://127.0.0.1:"))
        } catch {
            child.terminate()
            _ = try? await child.waitForExit()
            throw error
        }
        child.terminate()
        let status = try await child.waitForExit()
        #expect(status == 0, "stderr: \(child.stderr)")
    }

    @Test("echord listen --format json: JSON lines on stdout as they come, logs on stderr, SIGTERM exits 0, token never printed")
    func listenJSON() async throws {
        let simulator = try await ListenTests.simulator(shards: 2)
        let child = try ChildProcess(
            arguments: ["listen", "--api-url", simulator.apiBaseURL, "--format", "json", "--compress", "zlib"],
            environment: ["DISCORD_TOKEN": testToken])
        func parsed() throws -> [ListenLine] { try child.stdout.split(separator: "\n").map { try ListenLine(String($0)) } }
        do {
            try await eventually("both shards print READY; stderr: \(child.stderr)") {
                Set(try parsed().filter { $0.t == "READY" }.map(\.shard)) == [0, 1]
            }
            // A dispatch reaches the pipe while the process runs (stdout is not held in a buffer).
            try await simulator.dispatch(eventName: "ECHORD_MARK", data: .object([("n", 1)]))
            try await eventually("the mark on stdout") { try parsed().filter { $0.mark == 1 }.count == 2 }
        } catch {
            child.terminate()
            _ = try? await child.waitForExit()
            try? await simulator.shutdown()
            throw error
        }
        child.terminate()
        let status = try await child.waitForExit()
        try await simulator.shutdown()
        #expect(status == 0, "stderr: \(child.stderr)")
        let lines = try parsed()
        for shard in 0..<2 {
            let mine = lines.filter { $0.shard == shard }
            #expect(mine.first?.t == "READY", "shard \(shard)")
            #expect(mine.map(\.s) == Array(1...max(1, mine.count)).map { $0 }, "shard \(shard)")
            #expect(mine.last?.mark == 1, "shard \(shard)")
        }
        #expect(child.stderr.contains("dispatches received"))
        #expect(!child.stdout.contains(testToken) && !child.stderr.contains(testToken))
    }

    /// A real-time simulator whose GET /gateway/bot recommends 1,000,000 shards (a world of one guild).
    static func millionShardSimulator() async throws -> GatewaySimulator {
        var configuration = SimulatorConfiguration()
        configuration.recommendedShards = 1_000_000
        configuration.sessionStartLimitTotal = 1_000_000
        configuration.sessionStartLimitRemaining = 1_000_000
        configuration.maxConcurrency = 1
        return try await GatewaySimulator.start(configuration: configuration, logger: quietLogger)
    }

    static func connections(_ simulator: GatewaySimulator) async throws -> Int {
        try await simulator.log().filter { if case .connected = $0.kind { true } else { false } }.count
    }

    @Test("echord listen against 1,000,000 recommended shards: exit 1 with a clear error, no socket opened")
    func listenShardCountAboveLimit() async throws {
        let simulator = try await Self.millionShardSimulator()
        let child = try ChildProcess(
            arguments: ["listen", "--api-url", simulator.apiBaseURL, "--duration", "60"], environment: ["DISCORD_TOKEN": testToken])
        let status = try await child.waitForExit()
        #expect(status == 1, "stderr: \(child.stderr)")
        #expect(child.stderr.contains("1000000 shards") && child.stderr.contains("--max-shards"), "stderr: \(child.stderr)")
        #expect(try await Self.connections(simulator) == 0)
        try await simulator.shutdown()
    }

    @Test("echord listen --max-shards 1000000: a few sockets while the shards wait for their turns, exit 0 on --duration")
    func listenMillionShardsBounded() async throws {
        let simulator = try await Self.millionShardSimulator()
        let child = try ChildProcess(
            arguments: ["listen", "--api-url", simulator.apiBaseURL, "--max-shards", "1000000", "--duration", "4", "--compress", "zlib"],
            environment: ["DISCORD_TOKEN": testToken])
        let status = try await child.waitForExit()
        let connections = try await Self.connections(simulator)
        let identifies = try await simulator.log().filter { $0.kind == .received && $0.opcode == 2 }.count
        let violations = try await simulator.violations()
        try await simulator.shutdown()
        #expect(violations.isEmpty, "\(violations)")
        #expect(status == 0, "stderr: \(child.stderr)")
        #expect(child.stderr.contains("dispatches received"))
        // One bucket, one IDENTIFY per 5.5 s: within 4 s shard 0 alone holds a socket (none yet on a
        // machine so loaded that discovery took the whole duration; never one per waiting shard).
        #expect(connections < 100, "\(connections) sockets")
        #expect(connections == identifies, "a socket opened without its identify turn")
    }

    @Test("echord listen with a refused token: exit 1, a clear message, no token in the output")
    func listenUnauthorized() async throws {
        var configuration = SimulatorConfiguration()
        configuration.acceptedTokens = ["MTE5MTE2ODkxNDIyNzMzMTA3Mw.good.token"]
        let simulator = try await GatewaySimulator.start(configuration: configuration, logger: quietLogger)
        let child = try ChildProcess(
            arguments: ["listen", "--token", testToken, "--api-url", simulator.apiBaseURL, "--log-level", "trace"])
        let status = try await child.waitForExit()
        try await simulator.shutdown()
        #expect(status == 1)
        #expect(child.stderr.contains("the token was refused (401)"), "stderr: \(child.stderr)")
        #expect(!child.stdout.contains(testToken) && !child.stderr.contains(testToken))
        #expect(child.stdout.isEmpty)
    }

    @Test("echord listen --log-level trace, then close 4004: exit 1 naming 4004; the token is in no frame or log")
    func listenFatalClose() async throws {
        let simulator = try await ListenTests.simulator(shards: 1)
        let child = try ChildProcess(
            arguments: ["listen", "--api-url", simulator.apiBaseURL, "--format", "json", "--log-level", "trace"],
            environment: ["DISCORD_TOKEN": testToken])
        do {
            try await eventually("READY on stdout; stderr: \(child.stderr)") { child.stdout.contains(#""t":"READY""#) }
        } catch {
            child.terminate()
            _ = try? await child.waitForExit()
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.inject(.close(code: 4004))
        let status = try await child.waitForExit()
        try await simulator.shutdown()
        #expect(status == 1)
        let lastLine = child.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(lastLine.hasPrefix("echord listen: error: gateway closed with 4004 (Authentication failed)"), "\(lastLine)")
        #expect(child.stderr.contains("<- op=0 t=READY"))  // trace logging was on
        #expect(!child.stdout.contains(testToken) && !child.stderr.contains(testToken))
    }

    @Test("echord listen without a token: a usage error, exit 64")
    func listenNoToken() async throws {
        let child = try ChildProcess(arguments: ["listen"])
        #expect(try await child.waitForExit() == 64)
        #expect(child.stderr.contains("no token"))
    }

    @Test("echord bench --format json: the simulator in a child process, one object, every key, every shard ready, exit 0")
    func benchJSON() async throws {
        let child = try ChildProcess(arguments: [
            "bench", "--shards", "3", "--duration", "1", "--rate", "100", "--settle", "0.2", "--traffic-bytes", "20000",
            "--format", "json",
        ])
        let status = try await child.waitForExit()
        #expect(status == 0, "stderr: \(child.stderr)")
        let lines = child.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(child.stdout.utf8)) as? [String: Any])
        for key in [
            "shards", "shards_ready", "compression", "events", "events_per_second", "resident_memory_bytes", "memory_per_shard_bytes",
            "resident_one_shard_bytes", "resident_after_traffic_bytes", "memory_per_shard_after_traffic_bytes",
            "traffic_bytes_per_shard", "idle_cpu_seconds", "idle_seconds", "cpu_seconds", "duration_seconds",
        ] {
            #expect(object[key] != nil, "\(key)")
        }
        #expect(object["shards"] as? Int == 3)
        #expect(object["shards_ready"] as? Int == 3)
        #expect(object["compression"] as? String == "zlib-stream")
        // The load phase ran (the simulator's traffic reached the shards).
        #expect((object["events"] as? Int).map { $0 > 0 } == true)
        #expect(object["resident_memory_bytes"] is NSNull || (object["resident_memory_bytes"] as? Int).map { $0 > 0 } == true)
    }
}

@Suite("echord bench (in process)", .timeLimit(.minutes(3 * TestTime.scale)))
struct BenchTests {
    @Test("bench: the built echord simulate as the child, every shard ready, its traffic received, a report with every figure")
    func bench() async throws {
        var settings = BenchSettings(shards: 2, duration: .milliseconds(500), rate: 50, compression: .zlibStream)
        settings.executable = try echordBinary()
        settings.settle = .milliseconds(100)
        settings.trafficBytes = 10_000
        let report = try await echord.bench(settings, logger: quietLogger)
        #expect(report.shards == 2)
        #expect(report.shardsReady == 2)
        #expect(report.idleCPUSeconds >= 0 && report.loadCPUSeconds >= 0)
        #expect(report.events > 0)
        #expect(report.trafficBytesPerShard == 10_000)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(object["shards_ready"] as? Int == 2)
        #expect(report.text.contains("shards ready             2 ("))
        #expect(report.text.contains("memory per shard, idle"))
    }

    @Test("bench --api-url: a simulator already running is used (no child is started: its path does not exist)")
    func benchAgainstRunningSimulator() async throws {
        let simulator = try await GatewaySimulator.start(
            configuration: SimulatorConfiguration(shards: 2, guilds: 2, maxConcurrency: 2, identifyBucketMilliseconds: 100),
            logger: quietLogger)
        var settings = BenchSettings(shards: 2, duration: .milliseconds(300), rate: 0, compression: .none)
        settings.apiBaseURL = simulator.apiBaseURL
        settings.executable = "/nonexistent/echord"  // never started
        settings.settle = .milliseconds(100)
        settings.trafficBytes = 9000
        let report = try await echord.bench(settings, logger: quietLogger)
        try await simulator.shutdown()
        #expect(report.shardsReady == 2)
        #expect(report.compression == .none)
        #expect(report.events == 0)  // no load phase without --rate
    }
}
