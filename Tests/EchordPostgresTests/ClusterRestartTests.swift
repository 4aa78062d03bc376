import EchordGateway
import EchordPostgres
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

/// PostgreSQL stopped and started again under a cluster at work. The test runs its own server
/// (``OwnPostgresServer``): the suites sharing `ECHORD_POSTGRES_TEST_URL` run at the same time and
/// must never see it go down.
@Suite("Cluster mode: PostgreSQL restarted under load", .enabled(if: TestDatabase.available), .serialized, .timeLimit(.minutes(8 * TestTime.scale)))
struct ClusterRestartTests {
    @Test("PostgreSQL down longer than a lease, then a quick restart: members stop their shards in time, the cluster takes them back and RESUMEs, no shard ever on two sockets")
    func restartUnderLoad() async throws {
        let server = try await OwnPostgresServer.start()
        do {
            try await Self.restart(server)
        } catch {
            await server.remove()
            throw error
        }
        await server.remove()
    }

    static func restart(_ server: OwnPostgresServer) async throws {
        let shards = 6
        let harness = try await ClusterHarness.start(shards: shards, database: try server.configuration())
        let members = try ["r-a", "r-b", "r-c"].map { id in
            try harness.startMember(shards: shards, id: id) {
                $0.leaseTTL = TestTime.bound(.seconds(3))  // see ClusterHarness.memberConfiguration
                $0.shard.sessionSaveInterval = .milliseconds(500)
            }
        }
        func balancedAndReady() -> Bool {
            harness.allReady(members, shards: shards) && members.map(\.member.heldShards.count) == [2, 2, 2]
                && members.allSatisfy { $0.member.health.allReady }
        }
        func delivered() -> Int { harness.delivered.withLockedValue { $0.count } }
        try await harness.eventually("6 shards ready over 3 members") { balancedAndReady() }
        try await harness.simulator.setTraffic(eventsPerSecond: 30)
        let flowing = delivered()
        try await harness.eventually("traffic delivered") { delivered() >= flowing + 30 }
        let logBefore = try await harness.simulator.log().count

        // Down for longer than a lease: no member can renew, so each stops its shards (close 4000)
        // before its leases can end; with the database back, the leases are taken again.
        try await server.halt()
        try await harness.eventually("every member stopped its shards") {
            members.allSatisfy { $0.member.heldShards.isEmpty && $0.member.statuses.isEmpty && !$0.member.health.allReady }
        }
        try await server.resume()
        try await harness.eventually("the cluster holds every shard again, all ready", timeout: .seconds(180)) { balancedAndReady() }
        let resumedAfterOutage = try await harness.simulator.log()[logBefore...].compactMap { entry -> Int? in
            guard case .session(let what) = entry.kind, what.hasPrefix("resumed") else { return nil }
            return entry.shardID
        }
        #expect(Set(resumedAfterOutage) == Set(0..<shards), "every shard RESUMEd after the outage")

        // A quick restart (stopped and started at once): noticed or not, the cluster settles again.
        try await server.halt()
        try await server.resume()
        let afterRestart = delivered()
        try await harness.eventually("traffic delivered after the quick restart", timeout: .seconds(180)) {
            balancedAndReady() && delivered() >= afterRestart + 30
        }
        try await harness.simulator.setTraffic(eventsPerSecond: 0)

        // Every dispatch of every session delivered at least once (what came after a shard's last
        // checkpoint is replayed on RESUME, so some twice).
        func missing() async throws -> [Int: Int] {
            let seen = harness.delivered.withLockedValue { $0 }
            var missing: [Int: Int] = [:]
            for session in try await harness.simulator.sessions() {
                let sequences = Set(seen.filter { $0.shard == session.shardID && $0.sequence > 0 }.map(\.sequence))
                let gaps = (1...max(1, session.sequence)).filter { !sequences.contains($0) }.count
                if gaps > 0 { missing[session.shardID] = gaps }
            }
            return missing
        }
        try await harness.eventually("every dispatch delivered") { try await missing().isEmpty }
        #expect(try await missing().isEmpty)
        #expect(try await harness.simulator.sessions().count == shards, "one session per shard: no new session")
        let history = try await harness.sessionHistory()
        #expect(try await harness.opcodes(2).count == shards, "no IDENTIFY after the first ones: every shard resumed; \(history)")

        let log = try await harness.simulator.log()
        #expect(Self.overlappingSockets(log).isEmpty, "a shard ran on two sockets at once: \(Self.overlappingSockets(log))")
        let takeovers = log.filter { if case .session(let what) = $0.kind { what.hasPrefix("taken over") } else { false } }
        #expect(takeovers.isEmpty, "\(takeovers)")
        #expect(try await harness.simulator.violations().isEmpty)

        for running in members { running.member.stop() }
        for running in members { _ = try await running.task.value }
        try await harness.simulator.shutdown()
    }

    /// The moments (log entries) at which a shard had two live sockets: a connection counts as live
    /// for its shard from its first entry tagged with that shard until it closes or drops.
    static func overlappingSockets(_ log: [SimulatorLogEntry]) -> [SimulatorLogEntry] {
        var live: [Int: Int] = [:]  // connection -> shard
        var ended: Set<Int> = []  // a connection's entries after its end (say, the close echoed) do not count
        var overlaps: [SimulatorLogEntry] = []
        for entry in log.sorted(by: { $0.index < $1.index }) {
            switch entry.kind {
            case .closedByServer, .closedByClient, .dropped:
                live[entry.connectionID] = nil
                ended.insert(entry.connectionID)
                continue
            default:
                break
            }
            guard let shard = entry.shardID, entry.connectionID != 0, live[entry.connectionID] == nil,
                !ended.contains(entry.connectionID)
            else { continue }
            if live.contains(where: { $0.value == shard }) { overlaps.append(entry) }
            live[entry.connectionID] = shard
        }
        return overlaps
    }
}
