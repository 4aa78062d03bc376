import EchordGateway
import EchordModels
import EchordPostgres
import EchordSimulator
import EchordTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

/// Members of one bot (own pools, as separate processes) against one simulator.
struct ClusterHarness {
    let simulator: GatewaySimulator
    let configuration: PostgresClusterConfiguration
    /// Every dispatch any member delivered, in delivery order.
    let delivered = NIOLockedValueBox<[(shard: Int, sequence: Int, name: String)]>([])

    /// A simulator for `shards` shards; the members use `database` (default: the suites' server,
    /// with a bot key of their own).
    static func start(shards: Int, database: PostgresClusterConfiguration? = nil) async throws -> ClusterHarness {
        var simulatorConfiguration = SimulatorConfiguration()
        simulatorConfiguration.world.guildCount = shards * 2
        simulatorConfiguration.recommendedShards = shards
        simulatorConfiguration.maxConcurrency = 4
        simulatorConfiguration.identifyBucketMilliseconds = 200
        let simulator = try await GatewaySimulator.start(configuration: simulatorConfiguration, logger: TestDatabase.quietLogger)
        return ClusterHarness(simulator: simulator, configuration: try database ?? TestDatabase.configuration(poolSize: 4))
    }

    func memberConfiguration(shards: Int, id: String) -> ClusterMember.Configuration {
        var configuration = ClusterMember.Configuration(token: BotToken(ClusterIdentifyTests.token), intents: [.guilds, .guildMessages], shardCount: shards)
        configuration.apiBaseURL = simulator.apiBaseURL
        configuration.shard.compression = .none
        // The lease is the real time a member has to renew it: a member that cannot within it (a
        // slow or sanitized run) must give up its shards, and a shard taken over before its first
        // session save is identified again. Members wait a third of it after joining before taking
        // leases, so that members started together see each other. The tests assert no lease is
        // lost and no shard handed over at the start, so the lease grows with the machine's slowness
        // like the tests' other real-time bounds; 2 s was not enough while the other suites ran
        // beside these in one process (a member's renewals and joins waited for a thread).
        configuration.leaseTTL = TestTime.bound(.seconds(4))
        configuration.identifyInterval = .milliseconds(400)
        configuration.memberID = id
        return configuration
    }

    /// A running member: its own cluster handle (pool), the member, and the task running both.
    final class Running: Sendable {
        let member: ClusterMember
        let task: Task<Void, any Error>
        init(member: ClusterMember, task: Task<Void, any Error>) {
            self.member = member
            self.task = task
        }
    }

    /// Acknowledgements: while `enabled`, the consumer acknowledges every dispatch it records and
    /// notes the last sequence acknowledged per shard.
    /// The bot's acknowledgements: the check, the acknowledgement and its record happen under one
    /// lock, so what ``stop()`` returns is exactly what was acknowledged.
    final class Acknowledger: Sendable {
        private let state = NIOLockedValueBox((enabled: true, last: [Int: Int]()))

        /// Acknowledges through `acknowledge` and records `sequence`, unless stopped.
        func acknowledge(shard: Int, sequence: Int, _ acknowledge: () -> Void) {
            state.withLockedValue { state in
                guard state.enabled else { return }
                acknowledge()
                state.last[shard] = sequence
            }
        }

        /// The last sequence acknowledged per shard so far.
        var acknowledged: [Int: Int] { state.withLockedValue { $0.last } }

        /// Stops acknowledging; returns the last sequence acknowledged per shard.
        func stop() -> [Int: Int] {
            state.withLockedValue { state in
                state.enabled = false
                return state.last
            }
        }
    }

    func startMember(
        shards: Int, id: String, database: PostgresClusterConfiguration? = nil, acknowledger: Acknowledger? = nil,
        configure: (inout ClusterMember.Configuration) -> Void = { _ in }
    ) throws -> Running {
        let cluster = try PostgresCluster(configuration: database ?? configuration, logger: TestDatabase.quietLogger)
        var memberConfiguration = memberConfiguration(shards: shards, id: id)
        configure(&memberConfiguration)
        let member = ClusterMember(cluster: cluster, configuration: memberConfiguration, logger: TestDatabase.quietLogger)
        let delivered = self.delivered
        let task = Task {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await cluster.run() }
                try await cluster.migrate()
                group.addTask {
                    for await dispatch in member.events {
                        delivered.withLockedValue { $0.append((dispatch.shardID, dispatch.sequence ?? -1, dispatch.name)) }
                        if let acknowledger, let sequence = dispatch.sequence {
                            acknowledger.acknowledge(shard: dispatch.shardID, sequence: sequence) { member.acknowledge(dispatch) }
                        }
                    }
                }
                try await member.run()
                group.cancelAll()
            }
        }
        return Running(member: member, task: task)
    }

    /// Waits (bounded, real time) until `condition` holds.
    func eventually(_ what: String, timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + TestTime.bound(timeout)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw ClusterTestError.timedOut(what) }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    func allReady(_ members: [Running], shards: Int) -> Bool {
        let held = members.flatMap(\.member.heldShards)
        guard held.sorted() == Array(0..<shards) else { return false }
        return members.allSatisfy { running in
            running.member.shards.values.allSatisfy { if case .ready = $0.status { true } else { false } }
        }
    }

    /// The shard ids of the IDENTIFYs and RESUMEs received, in order.
    func identifiedShards() async throws -> [Int] {
        try await opcodes(2).compactMap { ClusterIdentifyTests.shardID(inIdentify: $0.text) }
    }

    /// The simulator's session log (created, resumed, taken over, ended), one line each: what a
    /// failed count of IDENTIFYs prints.
    func sessionHistory() async throws -> String {
        try await simulator.log().compactMap { entry -> String? in
            guard case .session(let what) = entry.kind else { return nil }
            return "\(entry.timeMilliseconds) ms, shard \(entry.shardID.map(String.init) ?? "-"), connection \(entry.connectionID): \(what)"
        }.joined(separator: "\n")
    }

    func opcodes(_ opcode: Int) async throws -> [SimulatorLogEntry] {
        try await simulator.log().filter { $0.kind == .received && $0.opcode == opcode }
    }
}

enum ClusterTestError: Error { case timedOut(String) }

@Suite("Cluster mode: leases, failover that resumes, handover", .enabled(if: TestDatabase.available), .serialized, .timeLimit(.minutes(3 * TestTime.scale)))
struct ClusterFailoverTests {
    @Test("3 members share 12 shards 4/4/4; one dies without a goodbye: the others RESUME its shards, no IDENTIFY")
    func failoverResumes() async throws {
        let harness = try await ClusterHarness.start(shards: 12)
        let members = try ["m-a", "m-b", "m-c"].map { try harness.startMember(shards: 12, id: $0) }
        try await harness.eventually("12 shards ready over 3 members") {
            harness.allReady(members, shards: 12) && members.map(\.member.heldShards.count) == [4, 4, 4]
        }
        let startHistory = try await harness.sessionHistory()
        #expect(try await harness.opcodes(2).count == 12, "\(startHistory)")
        try await harness.simulator.setTraffic(eventsPerSecond: 40)
        try await Task.sleep(for: .seconds(1))
        let victim = members[0]
        let orphaned = victim.member.heldShards
        victim.task.cancel()
        _ = await victim.task.result
        let survivors = Array(members.dropFirst())
        try await harness.eventually("the orphaned shards resumed by the survivors") {
            harness.allReady(survivors, shards: 12)
        }
        try await Task.sleep(for: .seconds(1))
        try await harness.simulator.setTraffic(eventsPerSecond: 0)
        #expect(survivors.map(\.member.heldShards.count) == [6, 6])
        // Each survivor's manager (cluster mode) reports the shards it holds now, all ready.
        for running in survivors {
            #expect(running.member.health.allReady)
            #expect(running.member.statuses.keys.sorted() == running.member.heldShards)
        }
        let history = try await harness.sessionHistory()
        #expect(try await harness.opcodes(2).count == 12, "no new IDENTIFY: \(history)")
        #expect(try await harness.opcodes(6).count >= orphaned.count)
        // Every dispatch of every session delivered at least once, in order per holder; repeats only
        // of what came after the last saved sequence.
        // The last dispatches written before the traffic stopped may still be on their way.
        func allSeen() async throws -> Bool {
            let delivered = harness.delivered.withLockedValue { $0 }
            return try await harness.simulator.sessions().allSatisfy { session in
                Set(delivered.filter { $0.shard == session.shardID && $0.sequence > 0 }.map(\.sequence))
                    == Set(1...max(1, session.sequence))
            }
        }
        try? await harness.eventually("every dispatch delivered", timeout: .seconds(30)) { try await allSeen() }
        let sessions = try await harness.simulator.sessions()
        let delivered = harness.delivered.withLockedValue { $0 }
        for session in sessions {
            let seen = Set(delivered.filter { $0.shard == session.shardID && $0.sequence > 0 }.map(\.sequence))
            #expect(seen == Set(1...session.sequence), "shard \(session.shardID)")
        }
        for running in survivors { running.member.stop() }
        for running in survivors { _ = try await running.task.value }
        #expect(try await harness.simulator.violations().isEmpty)
        try await harness.simulator.shutdown()
    }

    @Test("a graceful stop and a join move shards with nothing lost or repeated")
    func gracefulHandover() async throws {
        let harness = try await ClusterHarness.start(shards: 6)
        var members = try ["g-a", "g-b"].map { try harness.startMember(shards: 6, id: $0) }
        try await harness.eventually("6 shards ready over 2 members") { harness.allReady(members, shards: 6) }
        try await harness.simulator.setTraffic(eventsPerSecond: 30)
        members.append(try harness.startMember(shards: 6, id: "g-c"))
        try await harness.eventually("the newcomer holds its share") {
            harness.allReady(members, shards: 6) && members[2].member.heldShards.count == 2
        }
        let leaving = members.removeFirst()
        leaving.member.stop()
        _ = try await leaving.task.value
        try await harness.eventually("the leaver's shards resumed") { harness.allReady(members, shards: 6) }
        try await Task.sleep(for: .seconds(1))
        try await harness.simulator.setTraffic(eventsPerSecond: 0)
        // The last dispatches written before the traffic stopped may still be on their way.
        func allDelivered() async throws -> Bool {
            let delivered = harness.delivered.withLockedValue { $0 }
            return try await harness.simulator.sessions().allSatisfy { session in
                delivered.filter { $0.shard == session.shardID && $0.sequence > 0 }.count >= session.sequence
            }
        }
        try? await harness.eventually("every dispatch delivered", timeout: .seconds(30)) { try await allDelivered() }
        #expect(try await harness.opcodes(2).count == 6, "no new IDENTIFY")
        let delivered = harness.delivered.withLockedValue { $0 }
        for session in try await harness.simulator.sessions() {
            let sequences = delivered.filter { $0.shard == session.shardID && $0.sequence > 0 }.map(\.sequence)
            #expect(sequences == Array(1...session.sequence), "shard \(session.shardID): exactly once, in order")
        }
        for running in members { running.member.stop() }
        for running in members { _ = try await running.task.value }
        #expect(try await harness.simulator.violations().isEmpty)
        try await harness.simulator.shutdown()
    }
}
