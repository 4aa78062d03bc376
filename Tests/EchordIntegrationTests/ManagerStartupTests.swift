import EchordGateway
import EchordTesting
import EchordModels
import EchordSimulator
import EchordTestSupport
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycleTestKit
import Testing

/// An identify queue that holds every shard until the test grants it, and records the reports.
final class GatedIdentifyQueue: IdentifyQueue {
    private struct State {
        var waiting: [(id: UInt64, continuation: CheckedContinuation<IdentifyTurn, Error>, shardID: Int)] = []
        var nextID: UInt64 = 0
        var reports: [String] = []
    }
    private let state = NIOLockedValueBox(State())

    var waitingCount: Int { state.withLockedValue { $0.waiting.count } }
    /// "sent <shard>" and "abandoned <shard>", in order.
    var reports: [String] { state.withLockedValue { $0.reports } }

    /// Grants the first waiting shard its turn.
    func grantNext() {
        let first = state.withLockedValue { state in state.waiting.isEmpty ? nil : state.waiting.removeFirst() }
        first?.continuation.resume(returning: IdentifyTurn(shardID: first!.shardID, id: first!.id))
    }

    func waitForTurn(shardID: Int) async throws -> IdentifyTurn {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let cancelled = state.withLockedValue { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiting.append((id, continuation, shardID))
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> CheckedContinuation<IdentifyTurn, Error>? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiting.remove(at: index).continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    func identifySent(_ turn: IdentifyTurn) async { state.withLockedValue { $0.reports.append("sent \(turn.shardID)") } }
    func turnAbandoned(_ turn: IdentifyTurn) async { state.withLockedValue { $0.reports.append("abandoned \(turn.shardID)") } }
}

/// Start-up of shards and managers: no socket before the identify turn, a bounded shard count, and
/// a stop that ends every stage.
@Suite("Start-up: identify turns, the shard count bound, stop at every stage", .timeLimit(.minutes(2 * TestTime.scale)))
struct ManagerStartupTests {
    static var quiet: Logger {
        var logger = Logger(label: "echord.test")
        logger.logLevel = .critical
        return logger
    }

    static func simulator(_ configure: (inout SimulatorConfiguration) -> Void = { _ in }) async throws -> GatewaySimulator {
        var configuration = SimulatorConfiguration()
        configuration.timeSource = .manual
        configure(&configuration)
        return try await GatewaySimulator.start(configuration: configuration, logger: quiet)
    }

    static func connections(_ simulator: GatewaySimulator) async throws -> Int {
        try await simulator.log().filter { if case .connected = $0.kind { true } else { false } }.count
    }

    /// Waits (real time, bounded) for `condition`, without moving any clock.
    static func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + TestTime.bound(timeout)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        if try await condition() { return }
        throw HarnessError.timedOut(what)
    }

    static func shard(_ simulator: GatewaySimulator, queue: any IdentifyQueue, gatewayURL: String? = nil) -> Shard {
        var configuration = ShardConfiguration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.gatewayURL = gatewayURL ?? simulator.gatewayURL
        return Shard(configuration: configuration, identifyQueue: queue, clock: GatewayClock(ManualClock()), logger: quiet, seed: 7)
    }

    @Test("a shard opens its socket only once its identify turn is granted, and reports the IDENTIFY written")
    func socketAfterTurn() async throws {
        let simulator = try await Self.simulator()
        let queue = GatedIdentifyQueue()
        let shard = Self.shard(simulator, queue: queue)
        let running = Task { try await shard.run() }
        try await Self.eventually("the shard waits for its turn") { queue.waitingCount == 1 }
        // Before this change the shard connected first and waited after HELLO: the simulator had
        // logged the connection before the wait began.
        #expect(try await Self.connections(simulator) == 0, "a socket opened before the identify turn")
        queue.grantNext()
        try await Self.eventually("ready") { shard.status == .ready }
        // Reported by a short task once the write completed: it may come just after READY.
        try await Self.eventually("the IDENTIFY reported") { !queue.reports.isEmpty }
        #expect(queue.reports == ["sent 0"])
        #expect(try await Self.connections(simulator) == 1)
        shard.stop()
        try await running.value
        try await simulator.shutdown()
    }

    @Test("stop while a shard waits for its turn: run() returns at once, no socket, the wait is given up")
    func stopWhileWaitingForTurn() async throws {
        let simulator = try await Self.simulator()
        let queue = GatedIdentifyQueue()
        let shard = Self.shard(simulator, queue: queue)
        let running = Task { try await shard.run() }
        try await Self.eventually("the shard waits for its turn") { queue.waitingCount == 1 }
        shard.stop()
        try await running.value
        #expect(queue.waitingCount == 0)
        #expect(shard.status == .stopped(error: nil))
        #expect(try await Self.connections(simulator) == 0)
        try await simulator.shutdown()
    }

    @Test("a turn whose socket never opens is given back unused")
    func abandonedOnConnectFailure() async throws {
        let simulator = try await Self.simulator()
        let reserved = try ReservedPort()
        defer { reserved.release() }
        let queue = GatedIdentifyQueue()
        let shard = Self.shard(simulator, queue: queue, gatewayURL: "ws://127.0.0.1:\(reserved.port)/gateway")
        let running = Task { try await shard.run() }
        try await Self.eventually("the shard waits for its turn") { queue.waitingCount == 1 }
        queue.grantNext()
        try await Self.eventually("the turn is given back") { queue.reports == ["abandoned 0"] }
        shard.stop()
        try await running.value
        try await simulator.shutdown()
    }

    @Test("GET /gateway/bot recommending 1,000,000 shards: a clear error before any socket opens")
    func shardCountAboveLimit() async throws {
        let simulator = try await Self.simulator { $0.recommendedShards = 1_000_000 }
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.apiBaseURL = simulator.apiBaseURL
        let manager = ShardManager(configuration: configuration, clock: GatewayClock(ManualClock()), logger: Self.quiet)
        await #expect(throws: ShardManagerError.shardCountAboveLimit(count: 1_000_000, limit: ShardManager.defaultShardCountLimit)) {
            try await manager.run()
        }
        #expect(ShardManagerError.shardCountAboveLimit(count: 1_000_000, limit: 10_000).description.contains("shardCountLimit"))
        #expect(manager.shards.isEmpty)
        #expect(try await Self.connections(simulator) == 0)
        try await simulator.shutdown()
    }

    @Test("1,000,000 shards with the bound raised: shards start a few at a time, a socket only per identify turn, stop ends it")
    func millionShardsBounded() async throws {
        let simulator = try await Self.simulator {
            $0.recommendedShards = 1_000_000
            $0.sessionStartLimitTotal = 1_000_000
            $0.sessionStartLimitRemaining = 1_000_000
            $0.maxConcurrency = 1
        }
        let clock = ManualClock()
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.apiBaseURL = simulator.apiBaseURL
        configuration.shard.compression = .none
        configuration.shardCountLimit = 1_000_000
        configuration.perShard = {
            $0.helloTimeout = .seconds(600)
            $0.readyTimeout = .seconds(600)
        }
        let queue = RecordingIdentifyQueue(LocalIdentifyQueue(maxConcurrency: 1, clock: GatewayClock(clock)))
        let manager = ShardManager(configuration: configuration, identifyQueue: queue, clock: GatewayClock(clock), logger: Self.quiet)
        let running = Task { try await manager.run() }
        let stepper = SettledStepper(simulator: simulator, clock: clock, queue: queue)
        try await stepper.advance { manager.shards[0]?.status == .ready }
        // A presence sent now reaches the started shards, and the later ones identify with it.
        let presence = Task { try await manager.send(.updatePresence(PresenceUpdate(status: .idle))) }
        try await Self.eventually("shard 0 sent the presence") {
            try await simulator.log().contains { $0.kind == .received && $0.opcode == 3 && $0.shardID == 0 }
        }
        // Shards made before the presence was set may have identified without it (they get op 3
        // after READY); the first one made after it must identify with it.
        let existingAtSend = manager.shards.keys.max() ?? 0
        try await stepper.advance {
            manager.shards.values.filter { $0.status == .ready }.count >= 4
                && manager.shards.contains { $0.key > existingAtSend && $0.value.status == .ready }
        }
        let ready = manager.shards.values.filter { $0.status == .ready }.count
        let started = manager.shards.count
        #expect(started <= ready + 2, "\(started) shards started for \(ready) ready; the window is 2 for max_concurrency 1")
        // Every socket is a shard that identified: none waits for its turn holding one.
        let connections = try await Self.connections(simulator)
        #expect(connections == queue.counts.sent, "\(connections) sockets for \(queue.counts.sent) IDENTIFYs")
        #expect(connections < 100)
        #expect(try await simulator.brokenRules().isEmpty)
        let later = existingAtSend + 1
        let identifyOfLater = try await simulator.log().first {
            $0.kind == .received && $0.opcode == 2 && $0.text?.contains("[\(later),1000000]") == true
        }
        #expect(identifyOfLater?.text?.contains(#""status":"idle""#) == true, "\(identifyOfLater?.text ?? "no IDENTIFY of shard \(later)")")
        manager.stop()
        try await running.value
        _ = await presence.result
        try await simulator.shutdown()
    }

    @Test("stop while waiting for the session start limit to reset: run() returns at once, no socket")
    func stopDuringSessionStartWait() async throws {
        let simulator = try await Self.simulator { $0.sessionStartLimitRemaining = 0 }
        let clock = ManualClock()
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.apiBaseURL = simulator.apiBaseURL
        let manager = ShardManager(configuration: configuration, clock: GatewayClock(clock), logger: Self.quiet)
        let running = Task { try await manager.run() }
        try await Self.eventually("the manager sleeps until reset_after") { clock.sleeperCount == 1 }
        #expect(try #require(clock.nextDeadline).offset >= .seconds(3600), "the wait is reset_after, about a day")
        manager.stop()
        try await running.value
        #expect(clock.sleeperCount == 0)
        #expect(manager.shards.isEmpty)
        #expect(try await Self.connections(simulator) == 0)
        try await simulator.shutdown()
    }

    @Test("a graceful shutdown (SIGTERM in a ServiceGroup) during the reset_after wait ends run() at once")
    func gracefulShutdownDuringSessionStartWait() async throws {
        let simulator = try await Self.simulator { $0.sessionStartLimitRemaining = 0 }
        let clock = ManualClock()
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.apiBaseURL = simulator.apiBaseURL
        let manager = ShardManager(configuration: configuration, clock: GatewayClock(clock), logger: Self.quiet)
        try await testGracefulShutdown { trigger in
            let running = Task { try await manager.run() }
            try await Self.eventually("the manager sleeps until reset_after") { clock.sleeperCount == 1 }
            trigger.triggerGracefulShutdown()
            try await running.value
        }
        #expect(clock.sleeperCount == 0)
        #expect(try await Self.connections(simulator) == 0)
        try await simulator.shutdown()
    }

    @Test("stop during discovery (an API that never answers): run() returns at once, without an error")
    func stopDuringDiscovery() async throws {
        let server = try await ScriptedHTTPServer.start([.hang])
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.apiBaseURL = server.apiBaseURL
        let manager = ShardManager(configuration: configuration, clock: GatewayClock(ManualClock()), logger: Self.quiet)
        let running = Task { try await manager.run() }
        try await Self.eventually("the request is out") { server.requests.count == 1 }
        manager.stop()
        try await running.value
        #expect(manager.shardCount == nil)
        await server.shutdown()
    }

    @Test("a gateway URL with a newline is refused, escaped in the error, never raw in a log line")
    func urlWithNewline() async throws {
        let body = #"{"url": "ws://127.0.0.1:1/gateway\nX-Injected: yes", "shards": 1, "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 1000, "max_concurrency": 1}}"#
        let server = try await ScriptedHTTPServer.start([.json(200, body)])
        let lines = LockedBox<[String]>([])
        var configuration = ShardManager.Configuration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.apiBaseURL = server.apiBaseURL
        let manager = ShardManager(
            configuration: configuration, clock: GatewayClock(ManualClock()),
            logger: Logger(label: "echord.test") { _ in RecordingLogHandler(lines: lines) })
        await #expect(throws: ShardManagerError.invalidGatewayURL(#"ws://127.0.0.1:1/gateway\nX-Injected: yes"#)) {
            try await manager.run()
        }
        #expect(!lines.value.contains { $0.contains("\n") }, "a raw newline in a log line")
        await server.shutdown()
    }
}

/// Counts what the shards report to an identify queue.
final class RecordingIdentifyQueue: IdentifyQueue {
    struct Counts: Sendable {
        var granted = 0
        var sent = 0
        var abandoned = 0
        /// Every granted turn was reported.
        var settled: Bool { granted == sent + abandoned }
    }
    let inner: any IdentifyQueue
    private let box = NIOLockedValueBox(Counts())
    var counts: Counts { box.withLockedValue { $0 } }

    init(_ inner: any IdentifyQueue) { self.inner = inner }

    func waitForTurn(shardID: Int) async throws -> IdentifyTurn {
        let turn = try await inner.waitForTurn(shardID: shardID)
        box.withLockedValue { $0.granted += 1 }
        return turn
    }
    func identifySent(_ turn: IdentifyTurn) async {
        await inner.identifySent(turn)
        box.withLockedValue { $0.sent += 1 }
    }
    func turnAbandoned(_ turn: IdentifyTurn) async {
        await inner.turnAbandoned(turn)
        box.withLockedValue { $0.abandoned += 1 }
    }
}

/// Moves a simulator's and a client's manual clocks together, one step at a time, and only when no
/// IDENTIFY is in flight: every granted turn was reported, and the simulator logged every IDENTIFY
/// reported written. So an IDENTIFY arrives at the simulator at the very time the client reported
/// it, however slow the machine (a sanitizer build, a loaded CI host).
struct SettledStepper {
    let simulator: GatewaySimulator
    let clock: ManualClock
    let queue: RecordingIdentifyQueue
    /// IDENTIFYs the simulator had received before this queue's shards started (another manager's).
    var identifiesBefore = 0

    func identifiesReceived() async throws -> Int {
        try await simulator.log().filter { $0.kind == .received && $0.opcode == 2 }.count - identifiesBefore
    }

    /// Steps until `condition` holds (at most `maxSteps`), each after waiting for the settled state.
    func advance(
        by step: Duration = .milliseconds(250), maxSteps: Int = 800, until condition: () async throws -> Bool
    ) async throws {
        for _ in 0..<maxSteps {
            try await ManagerStartupTests.eventually("no IDENTIFY in flight (\(queue.counts))", timeout: .seconds(60)) {
                let counts = queue.counts
                return counts.settled ? try await identifiesReceived() == counts.sent : false
            }
            if try await condition() { return }
            // The simulator first: a frame sent at the client's time t never meets a simulator behind t.
            try await simulator.advanceTime(by: step)
            clock.advance(by: step)
            try await Task.sleep(for: .milliseconds(5))
        }
        if try await condition() { return }
        throw HarnessError.timedOut("not reached after \(maxSteps) steps; \(queue.counts)")
    }
}
