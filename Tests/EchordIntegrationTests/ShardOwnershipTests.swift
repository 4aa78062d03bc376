import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

/// A shard ownership the test drives: it starts and stops the shards it is told to, and on the
/// manager's stop, stops every shard it runs and returns.
final class ScriptedOwnership: ShardOwnership {
    enum Command: Sendable {
        case start(Int)
        case stop(Int)
        case leave
    }

    let commands: AsyncStream<Command>
    let continuation: AsyncStream<Command>.Continuation
    /// The shard ids whose `onEnd` was called, in order.
    let ended = NIOLockedValueBox<[Int]>([])
    /// The shards the ownership could not start (the manager answered nil).
    let refused = NIOLockedValueBox<[Int]>([])

    init() { (commands, continuation) = AsyncStream.makeStream(of: Command.self) }

    func send(_ command: Command) { continuation.yield(command) }

    func run(_ shards: OwnedShards) async throws {
        var running: [Int: Shard] = [:]
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                await shards.waitForStopRequest()
                self.continuation.yield(.leave)
            }
            commands: for await command in commands {
                switch command {
                case .start(let id):
                    let ended = self.ended
                    let shard = shards.start(id, sessionStore: InMemorySessionStore(), identifyQueue: UnlimitedIdentifyQueue()) { _ in
                        ended.withLockedValue { $0.append(id) }
                    }
                    if let shard { running[id] = shard } else { refused.withLockedValue { $0.append(id) } }
                case .stop(let id):
                    running.removeValue(forKey: id)?.stop(keepSession: true)
                case .leave:
                    running.values.forEach { $0.stop(keepSession: true) }
                    break commands
                }
            }
            group.cancelAll()
        }
    }
}

/// A manager with a ``ScriptedOwnership`` against a simulator in real time.
struct OwnershipHarness {
    let simulator: GatewaySimulator
    let ownership = ScriptedOwnership()
    let manager: ShardManager

    init(shards: Int, eventBufferCapacity: Int = 8192) async throws {
        var quiet = Logger(label: "echord.test")
        quiet.logLevel = .critical
        var simulatorConfiguration = SimulatorConfiguration()
        simulatorConfiguration.world.guildCount = shards * 2
        simulatorConfiguration.recommendedShards = shards
        simulatorConfiguration.identifyBucketMilliseconds = 0
        simulator = try await GatewaySimulator.start(configuration: simulatorConfiguration, logger: quiet)
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds, .guildMessages])
        configuration.apiBaseURL = simulator.apiBaseURL
        configuration.shard.compression = .none
        configuration.shardCount = .exactly(shards)
        configuration.shard.eventBufferCapacity = eventBufferCapacity
        if let pem = simulator.certificatePEM { configuration.shard.additionalTrustRoots = [.pem(pem)] }
        manager = ShardManager(configuration: configuration, ownership: ownership, logger: quiet)
    }

    /// Waits (real time, bounded) until `condition` holds.
    func eventually(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + TestTime.bound(timeout)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw HarnessError.timedOut("\(what); statuses \(manager.statuses)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

@Suite("ShardManager in cluster mode: a shard ownership", .timeLimit(.minutes(3 * TestTime.scale)))
struct ShardOwnershipTests {
    @Test("shards come and go as the ownership wins and loses them: statuses, health, commands and the merged stream follow")
    func shardsComeAndGo() async throws {
        let harness = try await OwnershipHarness(shards: 3)
        let manager = harness.manager
        let received = NIOLockedValueBox<[(shard: Int, name: String, sequence: Int?)]>([])
        async let consumed: Void = { for await dispatch in manager.events { received.withLockedValue { $0.append((dispatch.shardID, dispatch.name, dispatch.sequence)) } } }()
        async let running: Void = manager.run()

        #expect(manager.health.allReady == false, "no shard held: not all ready")
        harness.ownership.send(.start(0))
        harness.ownership.send(.start(1))
        try await harness.eventually("shards 0 and 1 ready") { manager.health.allReady && manager.statuses.keys.sorted() == [0, 1] }
        #expect(manager.shardCount == 3)

        harness.ownership.send(.stop(0))  // lost
        try await harness.eventually("shard 0 gone") { manager.statuses.keys.sorted() == [1] && harness.ownership.ended.withLockedValue { $0 } == [0] }
        #expect(manager.shards.keys.sorted() == [1])
        #expect(manager.health.allReady, "the one shard held is ready")
        // A guild of shard 0 is no longer served here.
        let guilds = harness.simulator.guildIDs
        let guildOfZero = try #require(guilds.first { $0.shardIndex(shardCount: 3) == 0 })
        await #expect(throws: ShardManagerError.shardNotInThisProcess(0)) {
            try await manager.send(.requestGuildMembers(RequestGuildMembers(guildID: guildOfZero, query: "", limit: 0)))
        }

        harness.ownership.send(.start(2))  // won
        harness.ownership.send(.start(1))  // already running: refused
        try await harness.eventually("shards 1 and 2 ready") { manager.health.allReady && manager.statuses.keys.sorted() == [1, 2] }
        #expect(harness.ownership.refused.withLockedValue { $0 } == [1])

        // Shard 2 is reached through the manager while it holds it.
        try await harness.simulator.dispatch(eventName: "ECHORD_TEST", data: .object([("n", .int(1))]))
        try await harness.eventually("the dispatch reached shards 1 and 2") {
            Set(received.withLockedValue { $0 }.filter { $0.name == "ECHORD_TEST" }.map(\.shard)) == [1, 2]
        }

        manager.stop()  // the ownership stops its shards and returns
        try await running
        await consumed  // the merged stream ended with the manager
        let lines = received.withLockedValue { $0 }
        #expect(Set(lines.filter { $0.name == "READY" }.map(\.shard)) == [0, 1, 2])
        #expect(harness.ownership.ended.withLockedValue { $0 }.sorted() == [0, 1, 2])
        // The simulator logs a close once it has read it, which can be after run() returned here.
        try await harness.eventually("every shard closed resumably (4000)") {
            try await harness.simulator.log().filter { $0.kind == .closedByClient(code: 4000) }.count >= 3
        }
        let closes = try await harness.simulator.log().filter { $0.kind == .closedByClient(code: 4000) }
        #expect(closes.count == 3, "every shard closed resumably")
        #expect(try await harness.simulator.violations().isEmpty)
        try await harness.simulator.shutdown()
    }

    @Test("the merged stream is bounded: a stalled consumer holds the shards at the buffer's capacity, then gets every dispatch in order")
    func mergedStreamBackPressure() async throws {
        let capacity = 4
        let perShard = 60
        let harness = try await OwnershipHarness(shards: 2, eventBufferCapacity: capacity)
        let manager = harness.manager
        async let running: Void = manager.run()
        harness.ownership.send(.start(0))
        harness.ownership.send(.start(1))
        var iterator = manager.events.makeAsyncIterator()
        var lines: [(shard: Int, sequence: Int)] = []
        func consumed(_ shard: Int) -> Int { lines.last { $0.shard == shard }?.sequence ?? 0 }
        while Set(lines.map(\.shard)).count < 2, let dispatch = await iterator.next() {  // both READYs
            lines.append((dispatch.shardID, dispatch.sequence ?? -1))
        }
        try await harness.eventually("both shards ready") { manager.health.allReady && manager.statuses.count == 2 }
        /// Dispatches the shards have put into the merged stream that the consumer has not taken.
        func buffered() -> Int {
            manager.shards.reduce(0) { $0 + ($1.value.session?.sequence ?? 0) - consumed($1.key) }
        }

        for n in 0..<perShard {
            try await harness.simulator.dispatch(eventName: "ECHORD_TEST", data: .object([("n", .int(Int64(n)))]))
        }
        try await harness.eventually("every dispatch written by the simulator") {
            try await harness.simulator.log().filter { $0.kind == .sent && $0.eventName == "ECHORD_TEST" }.count == 2 * perShard
        }
        try await harness.eventually("the merged stream full") { buffered() >= capacity }
        // The consumer takes nothing: the shards stay at the capacity (an unbounded stream would
        // take all 120 dispatches, already on the wire, within milliseconds).
        for _ in 0..<25 {
            #expect(buffered() <= capacity)
            try await Task.sleep(for: .milliseconds(20))
        }
        // Then it consumes: every dispatch arrives, in order per shard, none lost or repeated.
        let sessions = try await harness.simulator.sessions()
        #expect(sessions.count == 2)
        while sessions.contains(where: { consumed($0.shardID) < $0.sequence }), let dispatch = await iterator.next() {
            lines.append((dispatch.shardID, dispatch.sequence ?? -1))
        }
        for session in sessions {
            #expect(lines.filter { $0.shard == session.shardID }.map(\.sequence) == Array(1...session.sequence), "shard \(session.shardID)")
        }
        #expect(try await harness.simulator.violations().isEmpty)
        manager.stop()
        try await running
        try await harness.simulator.shutdown()
    }

    @Test("an ownership that fails ends the manager with its error; its shards stop")
    func ownershipFailure() async throws {
        struct Lost: Error, Equatable {}
        final class Failing: ShardOwnership {
            func run(_ shards: OwnedShards) async throws {
                let started = shards.start(0, sessionStore: InMemorySessionStore(), identifyQueue: UnlimitedIdentifyQueue()) { _ in }
                #expect(started != nil)
                throw Lost()
            }
        }
        let harness = try await OwnershipHarness(shards: 1)
        var configuration = harness.manager.configuration
        configuration.shard.eventBufferCapacity = 16
        let manager = ShardManager(configuration: configuration, ownership: Failing())
        await #expect(throws: Lost.self) { try await manager.run() }
        #expect(manager.shards.isEmpty)
        try await harness.simulator.shutdown()
    }
}
