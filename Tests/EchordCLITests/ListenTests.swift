import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import echord

/// `echord listen`, run in process against a simulator on 127.0.0.1 (real time).
@Suite("echord listen", .timeLimit(.minutes(3 * TestTime.scale)))
struct ListenTests {
    /// A simulator for `shards` shards with no identify bucket wait.
    static func simulator(shards: Int = 2, _ configure: (inout SimulatorConfiguration) -> Void = { _ in }) async throws
        -> GatewaySimulator
    {
        var configuration = SimulatorConfiguration()
        configuration.world.guildCount = shards * 2
        configuration.recommendedShards = shards
        configuration.maxConcurrency = shards
        configuration.identifyBucketMilliseconds = 0
        configure(&configuration)
        return try await GatewaySimulator.start(configuration: configuration, logger: quietLogger)
    }

    static func settings(_ simulator: GatewaySimulator, token: String = testToken, format: ListenFormat = .json)
        -> ListenSettings
    {
        ListenSettings(
            token: BotToken(token), apiBaseURL: simulator.apiBaseURL, shardCount: .automatic,
            compression: .zlibStream, intents: [.guilds, .guildMessages], events: nil, format: format)
    }

    /// Starts `listen` in a task; it stops when `stop` is raised.
    static func start(_ settings: ListenSettings, sink: MemorySink, stop: StopSwitch) -> Task<ListenSummary, Error> {
        Task {
            try await listen(
                settings, sink: sink, logger: quietLogger, identifyQueue: UnlimitedIdentifyQueue(),
                configureShard: { $0.backoffBase = .milliseconds(200) }, until: { await stop.wait() })
        }
    }

    static func parsed(_ sink: MemorySink) throws -> [ListenLine] { try sink.lines.map(ListenLine.init) }

    @Test("json: each dispatch exactly once and in order across op 7, a 4000 close, op 9 (resumable and not) and a dropped socket")
    func exactlyOnceAcrossFaults() async throws {
        let simulator = try await Self.simulator(shards: 2)
        let sink = MemorySink()
        let stop = StopSwitch()
        let running = Self.start(Self.settings(simulator), sink: sink, stop: stop)
        do {
            var marks = 0
            /// Dispatches `count` ECHORD_MARK events to every session, numbered on from the last.
            func mark(_ count: Int) async throws {
                for _ in 0..<count {
                    marks += 1
                    let sessions = try await simulator.dispatch(eventName: "ECHORD_MARK", data: .object([("n", .int(Int64(marks)))]))
                    #expect(sessions == 2, "mark \(marks) reached \(sessions) sessions")
                }
            }
            /// Waits until both shards printed every mark so far.
            func waitForMarks() async throws {
                let expected = marks
                try await eventually("both shards print mark \(expected); output:\n\(sink.text)") {
                    let lines = try Self.parsed(sink)
                    return (0..<2).allSatisfy { shard in lines.contains { $0.shard == shard && $0.mark == expected } }
                }
            }
            func readyCount(_ shard: Int) throws -> Int { try Self.parsed(sink).filter { $0.shard == shard && $0.t == "READY" }.count }

            try await eventually("both shards READY") { try readyCount(0) == 1 && readyCount(1) == 1 }
            try await mark(3)
            try await waitForMarks()

            // Op 7, a 4000 close, op 9 (resumable) and a dropped TCP connection: the shards resume;
            // marks dispatched while they reconnect are replayed.
            func resumedCount(_ shard: Int) throws -> Int { try Self.parsed(sink).filter { $0.shard == shard && $0.t == "RESUMED" }.count }
            for (index, fault) in [SimulatorFault.reconnect, .close(code: 4000), .invalidSession(resumable: true), .dropConnection].enumerated() {
                #expect(try await simulator.inject(fault) == 2, "\(fault)")
                try await mark(5)
                try await waitForMarks()
                // Both shards are back on a resumed connection before the next fault.
                try await eventually("both shards RESUMED after \(fault)") { try resumedCount(0) == index + 1 && resumedCount(1) == index + 1 }
            }

            // Op 9 (not resumable): the sessions are deleted and the shards identify again (a new
            // session, whose seq starts at 1). Marks go out once the new sessions exist.
            #expect(try await simulator.inject(.invalidSession(resumable: false)) == 2)
            try await eventually("both shards READY again") { try readyCount(0) == 2 && readyCount(1) == 2 }
            try await mark(5)
            try await waitForMarks()

            // Nothing is missing at the tail: the last s printed is the simulator's last s.
            let sessions = try await simulator.sessions()
            #expect(sessions.count == 2)
            for session in sessions {
                try await eventually("shard \(session.shardID) prints s=\(session.sequence)") {
                    try Self.parsed(sink).last { $0.shard == session.shardID }?.s == session.sequence
                }
            }

            stop.raise()
            let summary = try await running.value
            let lines = try Self.parsed(sink)
            #expect(summary == ListenSummary(received: lines.count, printed: lines.count))
            for shard in 0..<2 {
                let mine = lines.filter { $0.shard == shard }
                // Split at READY: one segment per session.
                var segments: [[ListenLine]] = []
                for line in mine {
                    if line.t == "READY" { segments.append([]) }
                    try #require(!segments.isEmpty, "shard \(shard) printed \(line.t) before READY")
                    segments[segments.count - 1].append(line)
                }
                #expect(segments.count == 2, "shard \(shard): one session per READY, two READYs")
                for (index, segment) in segments.enumerated() {
                    #expect(segment.map(\.s) == Array(1...segment.count).map { $0 }, "shard \(shard) session \(index): s is 1, 2, 3, … with no gap or repeat")
                }
                #expect(mine.compactMap(\.mark) == Array(1...marks), "shard \(shard): every mark once, in order")
                #expect(mine.filter { $0.t == "RESUMED" }.count == 4, "shard \(shard): resumed after op 7, 4000, op 9 true and the drop")
            }
        } catch {
            stop.raise()
            _ = await running.result
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
    }

    @Test("--events prints only the named dispatches; the others are still received")
    func eventFilter() async throws {
        let simulator = try await Self.simulator(shards: 1)
        let sink = MemorySink()
        let stop = StopSwitch()
        var settings = Self.settings(simulator)
        settings.events = ["ECHORD_MARK"]
        let running = Self.start(settings, sink: sink, stop: stop)
        try await eventually("the shard is ready") {
            let session = try await simulator.sessions().first
            return session?.connectionID != nil && (session?.sequence ?? 0) >= 3
        }
        for n in 1...3 { try await simulator.dispatch(eventName: "ECHORD_MARK", data: .object([("n", .int(Int64(n)))])) }
        try await eventually("three marks printed") { sink.lines.count == 3 }
        stop.raise()
        let summary = try await running.value
        try await simulator.shutdown()
        let lines = try Self.parsed(sink)
        #expect(lines.map(\.mark) == [1, 2, 3])
        #expect(summary.printed == 3)
        #expect(summary.received > 3)  // READY and GUILD_CREATEs came too
        // s counts every dispatch, printed or not: the marks are the last three of the session.
        let last = try #require(lines.last?.s)
        #expect(lines.map(\.s) == [last - 2, last - 1, last])
    }

    @Test("pretty: one summary line per dispatch")
    func prettyFormat() async throws {
        let simulator = try await Self.simulator(shards: 1)
        let sink = MemorySink()
        let stop = StopSwitch()
        let running = Self.start(Self.settings(simulator, format: .pretty), sink: sink, stop: stop)
        try await eventually("READY printed") { sink.lines.contains { $0.contains("READY") } }
        stop.raise()
        _ = try await running.value
        try await simulator.shutdown()
        let ready = try #require(sink.lines.first)
        #expect(ready.hasPrefix("shard   0  s=1 "))
        #expect(ready.contains("READY"))
        #expect(ready.contains("guild(s), session "), "the typed READY is summarised: \(ready)")
        #expect(sink.lines.allSatisfy { !$0.contains("\n") })
    }

    @Test("a fatal close (4004) ends the run with ShardError, and the message names it without the token")
    func fatalClose() async throws {
        let simulator = try await Self.simulator(shards: 1)
        let sink = MemorySink()
        let stop = StopSwitch()
        let running = Self.start(Self.settings(simulator), sink: sink, stop: stop)
        try await eventually("READY printed") { sink.lines.contains { $0.contains("\"READY\"") } }
        try await simulator.inject(.close(code: 4004))
        let result = await running.result
        stop.raise()
        try await simulator.shutdown()
        guard case .failure(let error) = result else {
            Issue.record("listen returned normally after 4004")
            return
        }
        #expect(error as? ShardError == .fatalClose(.authenticationFailed))
        let message = listenErrorMessage(error, token: BotToken(testToken))
        #expect(message.contains("4004"))
        #expect(message.contains("check the token"))
        #expect(!message.contains(testToken) && !sink.text.contains(testToken))
    }

    @Test("discovery 401 ends the run with a clear message that does not contain the token")
    func unauthorized() async throws {
        let accepted = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.good.token"
        let simulator = try await Self.simulator(shards: 1) { $0.acceptedTokens = [accepted] }
        let sink = MemorySink()
        let stop = StopSwitch()
        let result = await Self.start(Self.settings(simulator), sink: sink, stop: stop).result
        stop.raise()
        try await simulator.shutdown()
        guard case .failure(let error) = result else {
            Issue.record("listen returned normally with a refused token")
            return
        }
        guard case GatewayDiscoveryError.unauthorized = error else {
            Issue.record("expected a 401, got \(error)")
            return
        }
        let message = listenErrorMessage(error, token: BotToken(testToken))
        #expect(message.contains("401"))
        #expect(!message.contains(testToken))
        #expect(sink.lines.isEmpty)
    }

    @Test("a stop during discovery (an API that never answers) ends the run at once, without an error")
    func stopDuringDiscovery() async throws {
        // A TCP listener that accepts connections and never answers.
        let accepted = NIOLockedValueBox(0)
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                accepted.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(silent.localAddress?.port)
        let sink = MemorySink()
        let stop = StopSwitch()
        let settings = ListenSettings(token: BotToken(testToken), apiBaseURL: "http://127.0.0.1:\(port)/api/v10")
        let running = Self.start(settings, sink: sink, stop: stop)
        // The request is out; stop now. Waiting for discovery would take its 30 s request timeout
        // (per attempt) and end in GatewayDiscoveryError.timedOut.
        try await eventually("discovery connected") { accepted.withLockedValue { $0 } > 0 }
        stop.raise()
        let summary = try await running.value
        #expect(summary == ListenSummary(received: 0, printed: 0))
        try await silent.close()
    }

    @Test("arguments: token from DISCORD_TOKEN, zlib/zstd aliases, shard count, intents default, validation")
    func arguments() throws {
        let fromEnvironment = try Listen.parse(["--api-url", "http://127.0.0.1:1/api/v10", "--events", "READY,message_create", "--events", "GUILD_CREATE"])
            .settings(environment: ["DISCORD_TOKEN": testToken])
        #expect(fromEnvironment.token.rawValue == testToken)
        #expect(fromEnvironment.intents == .nonPrivileged)
        #expect(fromEnvironment.events == ["READY", "MESSAGE_CREATE", "GUILD_CREATE"])
        #expect(fromEnvironment.shardCount == .automatic)
        #expect(fromEnvironment.format == .pretty)

        let explicit = try Listen.parse(["--token", testToken, "--shards", "3", "--compress", "zlib", "--intents", "513", "--format", "json"])
            .settings(environment: [:])
        #expect(explicit.shardCount == .exactly(3))
        #expect(explicit.shardCountLimit == ShardManager.defaultShardCountLimit)
        let raised = try Listen.parse(["--token", testToken, "--max-shards", "50000"]).settings(environment: [:])
        #expect(raised.shardCountLimit == 50_000)
        #expect(throws: (any Error).self) { try Listen.parse(["--token", testToken, "--max-shards", "0"]) }
        #expect(explicit.compression == .zlibStream)
        #expect(explicit.intents == [.guilds, .guildMessages])
        #expect(explicit.apiBaseURL == "https://discord.com/api/v10")
        #expect(try Listen.parse(["--token", "x", "--compress", "zlib-stream"]).settings(environment: [:]).compression == .zlibStream)
        #expect(try Listen.parse(["--token", "x", "--compress", "none"]).settings(environment: [:]).compression == GatewayCompression.none)

        #expect(throws: (any Error).self) { try Listen.parse([]).settings(environment: [:]) }  // no token
        #expect(throws: (any Error).self) { try Listen.parse(["--token", "x", "--shards", "0"]) }
        #expect(throws: (any Error).self) { try Listen.parse(["--token", "x", "--compress", "brotli"]) }
        #expect(throws: (any Error).self) { try Listen.parse(["--token", "x", "--intents", "\(1 << 40)"]) }
        if !GatewayCompression.zstdStream.isAvailable {
            #expect(throws: (any Error).self) { try Listen.parse(["--token", "x", "--compress", "zstd"]) }
        } else {
            #expect(try Listen.parse(["--token", "x", "--compress", "zstd"]).settings(environment: [:]).compression == .zstdStream)
        }
    }
}
