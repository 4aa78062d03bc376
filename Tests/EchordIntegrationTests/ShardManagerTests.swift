import EchordGateway
import EchordTestSupport
import EchordTesting
import EchordModels
import EchordSimulator
import Foundation
import Logging
import Testing

/// A manager and a simulator, both on manual time.
struct ManagerHarness {
    let simulator: GatewaySimulator
    let clock: ManualClock
    let manager: ShardManager
    /// The manager's identify queue (a LocalIdentifyQueue for `max_concurrency`), counting reports.
    let queue: RecordingIdentifyQueue
    /// IDENTIFYs the simulator had received before this harness (from an earlier manager).
    let identifiesBefore: Int

    static func start(
        shards: Int, maxConcurrency: Int, shardIDs: [Int]? = nil, store: any SessionStore = InMemorySessionStore(),
        simulator existing: GatewaySimulator? = nil
    ) async throws -> ManagerHarness {
        var quiet = Logger(label: "echord.test")
        quiet.logLevel = .critical
        let simulator: GatewaySimulator
        if let existing {
            simulator = existing
        } else {
            var config = SimulatorConfiguration()
            config.timeSource = .manual
            config.world.guildCount = shards * 2
            config.recommendedShards = shards
            config.maxConcurrency = maxConcurrency
            config.identifyBucketMilliseconds = 5000
            simulator = try await GatewaySimulator.start(configuration: config, logger: quiet)
        }
        let clock = ManualClock()
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds, .guildMessages])
        configuration.apiBaseURL = simulator.apiBaseURL
        configuration.shard.compression = .zlibStream
        if let pem = simulator.certificatePEM { configuration.shard.additionalTrustRoots = [.pem(pem)] }
        configuration.shardIDs = shardIDs
        // Manual time runs far ahead of real time here (250 ms per step); the protocol timeouts must
        // not fire because a busy 2-core machine takes a few real milliseconds per frame.
        configuration.perShard = { shard in
            shard.helloTimeout = .seconds(600)
            shard.readyTimeout = .seconds(600)
        }
        let queue = RecordingIdentifyQueue(LocalIdentifyQueue(maxConcurrency: maxConcurrency, clock: GatewayClock(clock)))
        let manager = ShardManager(
            configuration: configuration, sessionStore: store, identifyQueue: queue, clock: GatewayClock(clock), logger: quiet)
        let before = try await simulator.log().filter { $0.kind == .received && $0.opcode == 2 }.count
        return ManagerHarness(simulator: simulator, clock: clock, manager: manager, queue: queue, identifiesBefore: before)
    }

    /// Advances the simulator, then the manager's clock, in steps until `condition` holds; each step
    /// only once no IDENTIFY is in flight (see ``SettledStepper``), so arrival times at the simulator
    /// are the client's write times however slow the machine is.
    func advance(by step: Duration = .milliseconds(250), maxSteps: Int = 800, until condition: () async throws -> Bool) async throws {
        do {
            try await SettledStepper(simulator: simulator, clock: clock, queue: queue, identifiesBefore: identifiesBefore)
                .advance(by: step, maxSteps: maxSteps, until: condition)
        } catch {
            throw HarnessError.timedOut("\(error); statuses \(manager.statuses)")
        }
    }

    func identifies() async throws -> [(time: Int64, shard: Int, count: Int)] {
        try await simulator.log().filter { $0.kind == .received && $0.opcode == 2 }.compactMap { entry in
            guard let text = entry.text, let range = text.range(of: "\"shard\":[") else { return nil }
            let numbers = text[range.upperBound...].prefix { $0 != "]" }.split(separator: ",").compactMap { Int($0) }
            return numbers.count == 2 ? (entry.timeMilliseconds, numbers[0], numbers[1]) : nil
        }
    }
}

@Suite("ShardManager against the simulator", .timeLimit(.minutes(3 * TestTime.scale)))
struct ShardManagerTests {
    @Test("32 shards, max_concurrency 4: every shard ready, one IDENTIFY per bucket per 5 s, in bucket order")
    func identifySchedule() async throws {
        let harness = try await ManagerHarness.start(shards: 32, maxConcurrency: 4)
        let running = Task { try await harness.manager.run() }
        do {
            try await harness.advance { harness.manager.health.allReady && harness.manager.statuses.count == 32 }
        } catch {
            let log = try await harness.simulator.log()
            let lagging = Set(harness.manager.health.lagging.keys)
            let connections = Set(log.filter { entry in lagging.contains { entry.text?.contains("[\($0),32]") == true } }.map(\.connectionID))
            for entry in log where connections.contains(entry.connectionID) || { if case .violation = entry.kind { true } else { false } }() {
                print("DBGLOG \(entry)")
            }
            throw error
        }
        let identifies = try await harness.identifies()
        #expect(Set(identifies.map(\.shard)) == Set(0..<32))
        #expect(identifies.allSatisfy { $0.count == 32 })
        for bucket in 0..<4 {
            let times = identifies.filter { $0.shard % 4 == bucket }.map(\.time)
            #expect(times.count == 8)
            for (a, b) in zip(times, times.dropFirst()) { #expect(b - a >= 5000, "bucket \(bucket): \(times)") }
        }
        #expect(try await harness.simulator.brokenRules().isEmpty)
        harness.manager.stop()
        try await running.value
        try await harness.simulator.shutdown()
    }

    @Test("a manager given shards 8–15 of 32 connects exactly those; commands reach their guild's shard")
    func subsetAndRouting() async throws {
        let harness = try await ManagerHarness.start(shards: 32, maxConcurrency: 16, shardIDs: Array(8...15))
        let running = Task { try await harness.manager.run() }
        try await harness.advance { harness.manager.health.allReady && harness.manager.statuses.count == 8 }
        #expect(Set(try await harness.identifies().map(\.shard)) == Set(8...15))
        // A guild served by shard 9.
        let guild = try #require(harness.simulator.guildIDs.first { $0.shardIndex(shardCount: 32) == 9 })
        try await harness.manager.send(.requestGuildMembers(RequestGuildMembers(guildID: guild, query: "", limit: 0)))
        let request = try await harness.simulator.waitForLogEntry { $0.kind == .received && $0.opcode == 8 }
        #expect(request.shardID == 9)
        let other = try #require(harness.simulator.guildIDs.first { $0.shardIndex(shardCount: 32) == 3 })
        await #expect(throws: ShardManagerError.shardNotInThisProcess(3)) {
            try await harness.manager.send(.requestGuildMembers(RequestGuildMembers(guildID: other, query: "", limit: 0)))
        }
        // Presence goes to every shard of the process.
        try await harness.manager.send(.updatePresence(PresenceUpdate(status: .idle)))
        try await Harness(simulator: harness.simulator, clock: harness.clock, shard: harness.manager.shards[8]!).eventually {
            try await harness.simulator.log().filter { $0.kind == .received && $0.opcode == 3 }.count == 8
        }
        let presences = try await harness.simulator.log().filter { $0.kind == .received && $0.opcode == 3 }
        #expect(Set(presences.compactMap(\.shardID)) == Set(8...15))
        harness.manager.stop()
        try await running.value
        try await harness.simulator.shutdown()
    }

    @Test("the manager honours its shard template's eventBufferCapacity: at 2, a stalled consumer holds the shard at 2 dispatches, then gets every one in order")
    func templateBufferCapacity() async throws {
        var quiet = Logger(label: "echord.test")
        quiet.logLevel = .critical
        var simulatorConfiguration = SimulatorConfiguration()
        simulatorConfiguration.identifyBucketMilliseconds = 0
        let simulator = try await GatewaySimulator.start(configuration: simulatorConfiguration, logger: quiet)
        var template = ShardConfiguration(token: BotToken(Harness.token), intents: [.guilds])
        template.compression = .none
        template.eventBufferCapacity = 2
        if let pem = simulator.certificatePEM { template.additionalTrustRoots = [.pem(pem)] }
        var configuration = ShardManager.Configuration(shard: template)
        configuration.apiBaseURL = simulator.apiBaseURL
        configuration.shardCount = .exactly(1)
        let manager = ShardManager(configuration: configuration, logger: quiet)
        #expect(manager.configuration.shard.eventBufferCapacity == 2)
        let running = Task { try await manager.run() }
        try await ManagerStartupTests.eventually("the shard ready") { manager.health.allReady }
        var iterator = manager.events.makeAsyncIterator()
        var sequences: [Int] = []
        /// Dispatches the shard has put into the merged stream that the consumer has not taken.
        func buffered() -> Int { (manager.shards[0]?.session?.sequence ?? 0) - (sequences.last ?? 0) }

        for n in 0..<40 {
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: .object([("n", .int(Int64(n)))]))
        }
        try await ManagerStartupTests.eventually("every dispatch written by the simulator") {
            try await simulator.log().filter { $0.kind == .sent && $0.eventName == "ECHORD_TEST" }.count == 40
        }
        try await ManagerStartupTests.eventually("the merged stream full") { buffered() >= 2 }
        // The consumer takes nothing: the shard stays at the template's capacity (the default of
        // 4,096 would take all 40 dispatches, already on the wire, within milliseconds).
        for _ in 0..<25 {
            let held = buffered()
            #expect(held <= 2)
            if held > 2 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let total = try #require(try await simulator.sessions().first?.sequence)
        while sequences.count < total, let dispatch = await iterator.next() { sequences.append(dispatch.sequence ?? -1) }
        #expect(sequences == Array(1...total))
        #expect(try await simulator.violations().isEmpty)
        manager.stop()
        try await running.value
        try await simulator.shutdown()
    }

    @Test("stopped and started again with the same file store, every shard resumes: no IDENTIFY, nothing lost or repeated")
    func restartWithFileStore() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("echord-sessions-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try await ManagerHarness.start(shards: 8, maxConcurrency: 8, store: FileSessionStore(path: path))
        let collected = LockedBox<[GatewayDispatch]>([])
        let firstRun = Task { try await first.manager.run() }
        let firstEvents = Task { for await dispatch in first.manager.events { collected.mutate { $0.append(dispatch) } } }
        try await first.advance { first.manager.health.allReady && first.manager.statuses.count == 8 }
        for guild in first.simulator.guildIDs.prefix(8) {
            try await first.simulator.dispatch(eventName: "BEFORE_RESTART", data: .object([("guild", .string(guild.description))]), guildID: guild)
        }
        try await first.advance { collected.value.filter { $0.name == "BEFORE_RESTART" }.count == 8 }
        first.manager.stop()
        try await firstRun.value
        await firstEvents.value
        let identifiesBefore = try await first.identifies().count
        #expect(identifiesBefore == 8)
        for guild in first.simulator.guildIDs.prefix(8) {
            try await first.simulator.dispatch(eventName: "WHILE_AWAY", data: .object([("guild", .string(guild.description))]), guildID: guild)
        }

        let second = try await ManagerHarness.start(
            shards: 8, maxConcurrency: 8, store: FileSessionStore(path: path), simulator: first.simulator)
        let secondRun = Task { try await second.manager.run() }
        let secondEvents = Task { for await dispatch in second.manager.events { collected.mutate { $0.append(dispatch) } } }
        try await second.advance { collected.value.filter { $0.name == "RESUMED" }.count == 8 }
        #expect(try await second.identifies().count == identifiesBefore, "no new IDENTIFY")
        #expect(collected.value.filter { $0.name == "WHILE_AWAY" }.count == 8)
        // Per shard, the sequence numbers across both processes have no gap and no repeat.
        for shard in 0..<8 {
            let sequences = collected.value.filter { $0.shardID == shard }.compactMap(\.sequence)
            #expect(sequences == Array(1...sequences.count), "shard \(shard): \(sequences)")
        }
        second.manager.stop()
        try await secondRun.value
        await secondEvents.value
        try await first.simulator.shutdown()
    }
}
