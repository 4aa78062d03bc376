import EchordGateway
import EchordPostgres
import EchordSimulator
import EchordTestSupport
import Foundation
import PostgresNIO
import Testing

@Suite("Cluster mode: a member that loses the database", .enabled(if: TestDatabase.available), .serialized, .timeLimit(.minutes(3 * TestTime.scale)))
struct ClusterDatabaseLossTests {
    @Test("a member cut off from the database stops its shards before its leases end; the other resumes them, no shard runs twice")
    func cutOffMemberStopsFirst() async throws {
        let harness = try await ClusterHarness.start(shards: 4)
        // The member to cut off logs in as a role of its own, so that the test can lock it out.
        let role = "member_\(UUID().uuidString.prefix(8).lowercased())"
        let password = UUID().uuidString
        var cutConfiguration = harness.configuration
        cutConfiguration.username = role
        cutConfiguration.password = password
        try await TestDatabase.withCluster(harness.configuration) { admin in
            try await admin.client.query(PostgresQuery(unsafeSQL: "CREATE ROLE \(role) LOGIN PASSWORD '\(password)'"))
            try await admin.client.query(PostgresQuery(unsafeSQL: "GRANT ALL ON ALL TABLES IN SCHEMA public TO \(role)"))
            let keeper = try harness.startMember(shards: 4, id: "keeper")
            let cut = try harness.startMember(shards: 4, id: "cut", database: cutConfiguration)
            let members = [keeper, cut]
            try await harness.eventually("4 shards ready over 2 members") {
                harness.allReady(members, shards: 4) && cut.member.heldShards.count == 2
            }
            let orphaned = cut.member.heldShards
            try await harness.simulator.setTraffic(eventsPerSecond: 20)
            // Lock the role out and end its connections: every query of the member now fails.
            try await admin.client.query(PostgresQuery(unsafeSQL: "ALTER ROLE \(role) NOLOGIN"))
            try await admin.client.query(PostgresQuery(unsafeSQL: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)'"))
            try await harness.eventually("the keeper holds every shard, all ready") {
                keeper.member.heldShards == [0, 1, 2, 3] && harness.allReady([keeper], shards: 4)
            }
            try await harness.simulator.setTraffic(eventsPerSecond: 0)
            let log = try await harness.simulator.log()
            // Had the keeper resumed a session still open on the cut member's socket, the simulator
            // would have taken it over (closing the old socket with 4000 from the server side).
            let takeovers = log.filter { if case .session(let what) = $0.kind { what.hasPrefix("taken over") } else { false } }
            #expect(takeovers.isEmpty, "\(takeovers)")
            #expect(try await harness.opcodes(2).count == 4, "no new IDENTIFY")
            #expect(try await harness.opcodes(6).count >= orphaned.count)
            keeper.member.stop()
            _ = try await keeper.task.value
            cut.task.cancel()
            _ = await cut.task.result
            try await admin.client.query(PostgresQuery(unsafeSQL: "REASSIGN OWNED BY \(role) TO CURRENT_USER"))
            try await admin.client.query(PostgresQuery(unsafeSQL: "DROP OWNED BY \(role)"))
            try await admin.client.query(PostgresQuery(unsafeSQL: "DROP ROLE \(role)"))
        }
        try await harness.simulator.shutdown()
    }
}
