import EchordGateway
import EchordTesting
import EchordModels
import EchordSimulator
import EchordTestSupport
import Logging
import Testing

/// A shard and a simulator on loopback, both on manual time.
struct Harness {
    let simulator: GatewaySimulator
    let clock: ManualClock
    let shard: Shard

    static let token = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.echord-integration"

    /// Runs `body` with a started simulator and a shard running against it; stops both after.
    static func with<T: Sendable>(
        compression: GatewayCompression = .none,
        simulator configureSimulator: (inout SimulatorConfiguration) -> Void = { _ in },
        shard configureShard: (inout ShardConfiguration) -> Void = { _ in },
        sessionStore: any SessionStore = InMemorySessionStore(),
        _ body: (Harness, Task<Void, Error>) async throws -> T
    ) async throws -> T {
        var simConfig = SimulatorConfiguration()
        simConfig.world.guildCount = 2
        simConfig.timeSource = .manual
        simConfig.identifyBucketMilliseconds = 0
        configureSimulator(&simConfig)
        var quiet = Logger(label: "echord.test")
        quiet.logLevel = .critical
        let simulator = try await GatewaySimulator.start(configuration: simConfig, logger: quiet)
        let clock = ManualClock()
        var shardConfig = ShardConfiguration(token: BotToken(token), intents: [.guilds, .guildMessages, .messageContent])
        shardConfig.gatewayURL = simulator.gatewayURL
        shardConfig.compression = compression
        // A TLS simulator's certificate is trusted unless the test says otherwise.
        if let pem = simulator.certificatePEM { shardConfig.additionalTrustRoots = [.pem(pem)] }
        configureShard(&shardConfig)
        let shard = Shard(
            configuration: shardConfig, sessionStore: sessionStore, identifyQueue: UnlimitedIdentifyQueue(),
            clock: GatewayClock(clock), logger: quiet, seed: 1234)
        let running = Task { try await shard.run() }
        let harness = Harness(simulator: simulator, clock: clock, shard: shard)
        do {
            let result = try await body(harness, running)
            shard.stop()
            _ = await running.result
            try await simulator.shutdown()
            return result
        } catch {
            running.cancel()
            _ = await running.result
            try? await simulator.shutdown()
            throw error
        }
    }

    /// Waits (real time, bounded) until the shard's status satisfies `predicate`.
    func waitForStatus(timeout: Duration = .seconds(20), _ predicate: @escaping @Sendable (ShardStatus) -> Bool) async throws {
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await status in shard.statusUpdates() where predicate(status) { return true }
                return false
            }
            group.addTask {
                try await Task.sleep(for: TestTime.bound(timeout))
                return false
            }
            let matched = try await group.next() ?? false
            group.cancelAll()
            if !matched { throw HarnessError.timedOut("status never matched; last: \(shard.status)") }
        }
    }

    /// Advances the shard's clock by `step` until `condition` holds (bounded by `maxSteps`),
    /// letting real time pass briefly between steps so the shard can react.
    func advance(
        by step: Duration, maxSteps: Int = 200, alsoSimulator: Bool = false, until condition: () async throws -> Bool
    ) async throws -> Duration {
        var advanced: Duration = .zero
        for _ in 0..<maxSteps {
            if try await condition() { return advanced }
            // The simulator first: a frame the shard sends at its time t must not reach the simulator
            // while the simulator's clock is still behind t.
            if alsoSimulator { try await simulator.advanceTime(by: step) }
            clock.advance(by: step)
            advanced += step
            try await Task.sleep(for: .milliseconds(15))
            // While the shard connects or handshakes it waits on the network, not on the clock:
            // time stands still until it is done, however slow the machine.
            try await settled()
        }
        if try await condition() { return advanced }
        throw HarnessError.timedOut("condition not reached after \(advanced) of manual time")
    }

    /// Waits (real time, bounded) until the shard is not connecting or handshaking.
    func settled(timeout: Duration = .seconds(20)) async throws {
        try await eventually(timeout: timeout) {
            switch shard.status {
            case .connecting, .identifying, .resuming: false
            case .idle, .ready, .disconnected, .stopped: true
            }
        }
    }

    /// Waits (real time, bounded) until the shard's clock has a deadline `within` from now (the
    /// shard sleeps on its clock once, on its one timer) and returns how far ahead it is.
    func deadline(within range: ClosedRange<Duration>, timeout: Duration = .seconds(20)) async throws -> Duration {
        try await eventually(timeout: timeout) {
            clock.nextDeadline.map { range.contains($0.offset - clock.now.offset) } ?? false
        }
        return try #require(clock.nextDeadline).offset - clock.now.offset
    }

    /// Waits (real time, bounded) until `condition` holds, without moving the clocks.
    func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + TestTime.bound(timeout)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        if try await condition() { return }
        throw HarnessError.timedOut("condition not reached within \(timeout)")
    }

    /// The client frames the simulator received, as (op, connection, text).
    func clientFrames() async throws -> [(op: Int?, connection: Int, text: String)] {
        try await simulator.log().filter { $0.kind == .received }.map { ($0.opcode, $0.connectionID, $0.text ?? "") }
    }

    /// The IDENTIFY (2) and RESUME (6) opcodes the simulator received, in order.
    func handshakeOps() async throws -> [Int] {
        try await clientFrames().compactMap(\.op).filter { $0 == 2 || $0 == 6 }
    }

    /// The paths of the connections the simulator accepted, in order.
    func connectionPaths() async throws -> [String] {
        try await simulator.log().compactMap { if case .connected(let path, _) = $0.kind { path } else { nil } }
    }
}

enum HarnessError: Error { case timedOut(String) }

/// Collects a shard's dispatches in the background.
final class EventCollector: Sendable {
    private let task: Task<[GatewayDispatch], Never>
    private let seen = LockedBox<[GatewayDispatch]>([])

    init(_ shard: Shard) {
        let seen = self.seen
        task = Task {
            for await dispatch in shard.events { seen.mutate { $0.append(dispatch) } }
            return seen.value
        }
    }

    var dispatches: [GatewayDispatch] { seen.value }
    var names: [String] { dispatches.map(\.name) }
    func count(of name: String) -> Int { dispatches.filter { $0.name == name }.count }
}

import NIOConcurrencyHelpers

final class LockedBox<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>
    init(_ value: Value) { box = NIOLockedValueBox(value) }
    var value: Value { box.withLockedValue { $0 } }
    func mutate(_ body: (inout Value) -> Void) { box.withLockedValue { body(&$0) } }
}

extension GatewaySimulator {
    /// The close codes the simulator sent, in order.
    func serverCloseCodes() async throws -> [UInt16] {
        try await log().compactMap { if case .closedByServer(let code, _) = $0.kind { code } else { nil } }
    }

    /// The rules the simulator logged as broken.
    func brokenRules() async throws -> [String] {
        try await violations().compactMap { if case .violation(let rule, _) = $0.kind { rule } else { nil } }
    }
}
