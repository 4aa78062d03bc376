import EchordGateway
import EchordTesting
import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

/// The shard client against the simulator over real sockets on 127.0.0.1. Both run on manual time.
@Suite("Shard against the simulator", .timeLimit(.minutes(3 * TestTime.scale)))
struct ShardIntegrationTests {
    static var compressions: [GatewayCompression] { GatewayCompression.allCases.filter(\.isAvailable) }

    @Test("identify → READY → GUILD_CREATEs → events, for every compression", arguments: compressions)
    func identifyAndEvents(compression: GatewayCompression) async throws {
        try await Harness.with(compression: compression) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            for n in 0..<5 {
                try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))]))
            }
            try await harness.eventually { events.count(of: "TEST_EVENT") == 5 }
            #expect(events.names.prefix(3) == ["READY", "GUILD_CREATE", "GUILD_CREATE"])
            #expect(events.dispatches.map(\.sequence) == (1...8).map { $0 })
            let values = try events.dispatches.filter { $0.name == "TEST_EVENT" }.map { try $0.decode([String: Int].self)["n"] }
            #expect(values == [0, 1, 2, 3, 4])
            let frames = try await harness.clientFrames()
            #expect(frames.first?.op == 2)
            #expect(frames.first.map { $0.text.contains("<redacted>") && !$0.text.contains(Harness.token) } == true)
            let query = try await harness.simulator.log().compactMap { if case .connected(_, let q) = $0.kind { q } else { nil } }
            #expect(query.first?.contains(compression == .none ? "encoding=json" : "compress=\(compression.rawValue)") == true)
            #expect(harness.shard.session?.sequence ?? 0 >= 3)
        }
    }

    @Test("op 7 → RESUME on resume_gateway_url with replay: nothing lost, nothing repeated")
    func reconnectOpcode() async throws {
        try await Harness.with(compression: .zlibStream) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            for n in 0..<3 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            try await harness.simulator.inject(.reconnect)
            // Sent while the shard is away: held for the replay.
            for n in 3..<6 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            try await harness.eventually { events.count(of: "RESUMED") == 1 }
            for n in 6..<8 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            try await harness.eventually { events.count(of: "TEST_EVENT") == 8 }
            let sequences = events.dispatches.compactMap(\.sequence)
            #expect(sequences == Array(1...sequences.count), "gap or repeat: \(sequences)")
            let values = try events.dispatches.filter { $0.name == "TEST_EVENT" }.map { try $0.decode([String: Int].self)["n"] }
            #expect(values == Array(0..<8))
            // On the wire: IDENTIFY on /gateway, then a close with 4000 and RESUME on /resume.
            #expect(try await harness.connectionPaths() == ["/gateway", "/resume"])
            #expect(try await harness.handshakeOps() == [2, 6])
            let closes = try await harness.simulator.log().compactMap { if case .closedByClient(let code) = $0.kind { code } else { nil } }
            #expect(closes == [4000])
            #expect(try await harness.simulator.brokenRules().isEmpty)
        }
    }

    @Test("a dropped TCP connection → RESUME after backoff, with the missed events replayed")
    func droppedConnection() async throws {
        try await Harness.with { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.inject(.dropConnection)
            try await harness.waitForStatus { if case .disconnected = $0 { true } else { false } }
            for n in 0..<4 { try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))])) }
            // The shard now sleeps out its first backoff on the manual clock: at most backoffBase (1 s).
            try await harness.eventually { harness.clock.sleeperCount >= 1 }
            let backoff = try #require(harness.clock.nextDeadline).offset - harness.clock.now.offset
            #expect(backoff <= .seconds(1), "backoff of the first reconnect is below one second")
            _ = try await harness.advance(by: .milliseconds(100)) { events.count(of: "RESUMED") == 1 }
            try await harness.eventually { events.count(of: "TEST_EVENT") == 4 }
            let sequences = events.dispatches.compactMap(\.sequence)
            #expect(sequences == Array(1...sequences.count))
            #expect(try await harness.handshakeOps() == [2, 6])
        }
    }

    @Test("the simulator stops ACKing → the shard closes the zombie and resumes within two intervals")
    func zombie() async throws {
        try await Harness.with(simulator: { $0.heartbeatIntervalMilliseconds = 10_000 }) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.inject(.stopHeartbeatAcks)
            // The first beat, jittered within the interval: sent, never acknowledged. (The shard's
            // one timer sleeps until its next deadline: the beat, once READY cancelled the 30 s
            // READY timeout.)
            let firstBeat = try await harness.deadline(within: .zero ... .seconds(10))
            harness.clock.advance(by: firstBeat)
            try await harness.simulator.waitForLogEntry { $0.kind == .received && $0.opcode == 1 }
            // The next beat, one interval later, finds the first unanswered: a zombie, closed and resumed.
            let secondBeat = try await harness.deadline(within: .seconds(10) ... .seconds(10))
            harness.clock.advance(by: secondBeat)
            try await harness.eventually { events.count(of: "RESUMED") == 1 }
            #expect(firstBeat + secondBeat <= .seconds(20), "resumed after \(firstBeat + secondBeat)")
            let heartbeats = try await harness.clientFrames().filter { $0.op == 1 && $0.connection == 1 }
            #expect(heartbeats.count == 1)
            let closes = try await harness.simulator.log().compactMap { if case .closedByClient(let code) = $0.kind { code } else { nil } }
            #expect(closes.first.map { $0 != 1000 && $0 != 1001 } == true)
            #expect(try await harness.connectionPaths() == ["/gateway", "/resume"])
        }
    }

    @Test("fatal close codes end run() with the typed error and no reconnect", arguments: [4010, 4011, 4012] as [UInt16])
    func injectedFatalCodes(code: UInt16) async throws {
        try await Harness.with { harness, running in
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.inject(.close(code: code))
            let result = await running.result
            #expect(throws: ShardError.fatalClose(GatewayCloseCode(rawValue: code))) { try result.get() }
            #expect(harness.shard.status == .stopped(error: .fatalClose(GatewayCloseCode(rawValue: code))))
            harness.clock.advance(by: .seconds(10))
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await harness.connectionPaths().count == 1, "no reconnect after \(code)")
        }
    }

    @Test("a bad token (4004), undocumented intents (4013) and disallowed intents (4014) stop the shard")
    func realFatalCodes() async throws {
        let cases: [(UInt16, (inout SimulatorConfiguration) -> Void, (inout ShardConfiguration) -> Void)] = [
            (4004, { $0.acceptedTokens = ["MTE5MTE2ODkxNDIyNzMzMTA3Mw.other.token"] }, { _ in }),
            (4013, { _ in }, { $0.intents = GatewayIntents(rawValue: 1 << 17) }),
            (4014, { $0.enabledPrivilegedIntents = [] }, { $0.intents = [.guilds, .guildMembers] }),
        ]
        for (code, simulator, shard) in cases {
            try await Harness.with(simulator: simulator, shard: shard) { harness, running in
                let result = await running.result
                #expect(throws: ShardError.fatalClose(GatewayCloseCode(rawValue: code))) { try result.get() }
                let closeCodes = try await harness.simulator.serverCloseCodes()
                #expect(closeCodes == [code])
                let paths = try await harness.connectionPaths()
                #expect(paths.count == 1, "no reconnect after \(code)")
            }
        }
    }

    @Test("4007 and 4009 → a new session: IDENTIFY on the default URL", arguments: [4007, 4009] as [UInt16])
    func newSessionCodes(code: UInt16) async throws {
        try await Harness.with { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.inject(.close(code: code))
            _ = try await harness.advance(by: .milliseconds(100)) { events.count(of: "READY") == 2 }
            #expect(try await harness.connectionPaths() == ["/gateway", "/gateway"])
            #expect(try await harness.handshakeOps() == [2, 2])
        }
    }

    @Test("op 9 false → the session is dropped and a new IDENTIFY follows 1–5 s later")
    func invalidSessionNotResumable() async throws {
        // A long heartbeat interval keeps the first beat's deadline far from the 1–5 s window.
        try await Harness.with(simulator: { $0.heartbeatIntervalMilliseconds = 600_000 }) { harness, _ in
            let events = EventCollector(harness.shard)
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.inject(.invalidSession(resumable: false))
            try await harness.waitForStatus { if case .disconnected = $0 { true } else { false } }
            // The shard's one timer now sleeps until the new IDENTIFY's connection.
            let delay = try await harness.deadline(within: .seconds(1) ... .seconds(5))
            #expect(try await harness.handshakeOps() == [2], "nothing before the delay")
            try await harness.simulator.advanceTime(by: delay)
            harness.clock.advance(by: delay)
            try await harness.eventually { events.count(of: "READY") == 2 }
            #expect(try await harness.handshakeOps() == [2, 2])
            let closes = try await harness.simulator.log().compactMap { if case .closedByClient(let code) = $0.kind { code } else { nil } }
            #expect(closes == [1000])
        }
    }

    @Test("a burst of 200 commands never draws 4008: the limiter spreads them over the window")
    func commandBurst() async throws {
        try await Harness.with { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            let shard = harness.shard
            let sent = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for n in 0..<200 {
                        group.addTask {
                            try await shard.send(.updatePresence(PresenceUpdate(
                                activities: [Activity(name: "burst \(n)", type: .playing)], status: .online)))
                        }
                    }
                    try await group.waitForAll()
                }
            }
            // IDENTIFY took one slot of the window and 3 stay free for heartbeats: 116 commands go at once.
            try await harness.eventually { try await harness.clientFrames().filter { $0.op == 3 }.count == 116 }
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await harness.clientFrames().filter { $0.op == 3 }.count == 116)
            do {
                _ = try await harness.advance(by: .seconds(1), maxSteps: 200, alsoSimulator: true) {
                    try await harness.clientFrames().filter { $0.op == 3 }.count == 200
                }
            } catch {
                for entry in try await harness.simulator.log() where entry.kind != .received || entry.opcode != 3 {
                    print("SIMLOG \(entry)")
                }
                throw error
            }
            try await sent.value
            #expect(!(try await harness.simulator.serverCloseCodes().contains(4008)))
            #expect(try await harness.simulator.brokenRules().isEmpty)
            // No 60 s window of simulator time holds more than 120 client frames.
            let times = try await harness.simulator.log().filter { $0.kind == .received }.map(\.timeMilliseconds)
            for (i, t) in times.enumerated() {
                #expect(times[i...].prefix { $0 - t < 60_000 }.count <= 120)
            }
        }
    }

    @Test("an oversize command is refused locally and never sent")
    func oversizeCommand() async throws {
        try await Harness.with { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            let huge = PresenceUpdate(activities: [Activity(name: String(repeating: "x", count: 5000), type: .playing)], status: .online)
            await #expect(throws: GatewayCommandError.self) { try await harness.shard.send(.updatePresence(huge)) }
            do {
                try await harness.shard.send(.updatePresence(huge))
            } catch let error as GatewayCommandError {
                guard case .tooLarge(let size, 4096) = error else { Issue.record("\(error)"); return }
                #expect(size > 4096)
            }
            try await harness.shard.send(.updatePresence(PresenceUpdate(status: .idle)))
            try await harness.simulator.waitForLogEntry { $0.kind == .received && $0.opcode == 3 }
            #expect(try await harness.clientFrames().filter { $0.op == 3 }.count == 1)
        }
    }

    @Test("stop(keepSession:) closes with a resumable code and a new shard resumes from the store")
    func resumeAcrossShards() async throws {
        let store = InMemorySessionStore()
        var simConfig = SimulatorConfiguration()
        simConfig.timeSource = .manual
        simConfig.identifyBucketMilliseconds = 0
        let simulator = try await GatewaySimulator.start(configuration: simConfig)
        defer { Task { try? await simulator.shutdown() } }
        var config = ShardConfiguration(token: BotToken(Harness.token), intents: [.guilds])
        config.gatewayURL = simulator.gatewayURL
        config.compression = .none
        let first = Shard(configuration: config, sessionStore: store, identifyQueue: UnlimitedIdentifyQueue(), clock: GatewayClock(ManualClock()))
        let firstRun = Task { try await first.run() }
        for try await status in first.statusUpdates() where status == .ready { break }
        // The GUILD_CREATE after READY may come in a later read: stop once it has been handled, so
        // the session saved is past it (otherwise the resume replays it, as it should).
        let handled = ContinuousClock.now + TestTime.bound(.seconds(20))
        while (first.session?.sequence ?? 0) < 2 && ContinuousClock.now < handled { try await Task.sleep(for: .milliseconds(10)) }
        first.stop(keepSession: true)
        try await firstRun.value
        let saved = try await store.session(shardID: 0, shardCount: 1)
        #expect(saved != nil)
        try await simulator.dispatch(eventName: "WHILE_AWAY", data: .object([]))

        let second = Shard(configuration: config, sessionStore: store, identifyQueue: UnlimitedIdentifyQueue(), clock: GatewayClock(ManualClock()))
        let events = EventCollector(second)
        let secondRun = Task { try await second.run() }
        for try await status in second.statusUpdates() where status == .ready { break }
        let deadline = ContinuousClock.now + TestTime.bound(.seconds(20))
        while events.count(of: "RESUMED") < 1 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(events.names == ["WHILE_AWAY", "RESUMED"])
        second.stop()
        try await secondRun.value
        // The simulator logs a close once it has read it, which can be after run() returned here.
        let closed = ContinuousClock.now + TestTime.bound(.seconds(20))
        while try await simulator.log().filter({ if case .closedByClient = $0.kind { true } else { false } }).count < 2,
            ContinuousClock.now < closed
        {
            try await Task.sleep(for: .milliseconds(10))
        }
        let log = try await simulator.log()
        let closes: [UInt16] = log.compactMap { if case .closedByClient(let code) = $0.kind { code } else { nil } }
        #expect(closes == [4000, 1000])
        let handshakes: [Int] = log.filter { $0.kind == .received }.compactMap(\.opcode).filter { $0 == 2 || $0 == 6 }
        #expect(handshakes == [2, 6])
    }
}
