import EchordGateway
import EchordPostgres
import EchordTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

@Suite("PostgresSessionStore and the schema on a real PostgreSQL", .enabled(if: TestDatabase.available), .timeLimit(.minutes(3 * TestTime.scale)))
struct PostgresSessionStoreTests {
    @Test("migrations are versioned and idempotent: three processes migrating at once apply every version once")
    func migrationsOnce() async throws {
        let configuration = try TestDatabase.configuration()
        try await TestDatabase.withCluster(configuration) { cluster in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask { try await TestDatabase.withCluster(configuration) { _ in } }
                }
                try await group.waitForAll()
            }
            let rows = try await cluster.client.query("SELECT version FROM echord_schema_migrations ORDER BY version")
            var versions: [Int] = []
            for try await version in rows.decode(Int.self) { versions.append(version) }
            #expect(versions == Array(1...PostgresClusterSchema.currentVersion))
        }
    }

    @Test("a session saved by one process is read by another; checkpoints never go back within a session; delete; bot keys and shard counts apart")
    func roundTrip() async throws {
        let configuration = try TestDatabase.configuration()
        let session = GatewaySession(sessionID: "abc", sequence: 41, resumeGatewayURL: "wss://resume.example")
        try await TestDatabase.withCluster(configuration) { writer in
            try await writer.sessionStore().save(session, shardID: 3, shardCount: 12)
            try await TestDatabase.withCluster(configuration) { reader in
                let store = reader.sessionStore()
                #expect(try await store.session(shardID: 3, shardCount: 12) == session)
                #expect(try await store.session(shardID: 3, shardCount: 24) == nil)
                #expect(try await store.session(shardID: 4, shardCount: 12) == nil)
                #expect(await store.shardsWithSession([2, 3, 4], shardCount: 12) == [3])
                #expect(await store.shardsWithSession([3], shardCount: 24).isEmpty)
                var later = session
                later.sequence = 99
                try await store.save(later, shardID: 3, shardCount: 12)
                #expect(try await writer.sessionStore().session(shardID: 3, shardCount: 12) == later)
                // A checkpoint never goes back within a session; a new session replaces it.
                try await store.save(session, shardID: 3, shardCount: 12)
                #expect(try await store.session(shardID: 3, shardCount: 12)?.sequence == 99)
                let fresh = GatewaySession(sessionID: "def", sequence: 2, resumeGatewayURL: "wss://resume.example")
                try await store.save(fresh, shardID: 3, shardCount: 12)
                #expect(try await store.session(shardID: 3, shardCount: 12) == fresh)
            }
            let other = try await TestDatabase.withCluster(try TestDatabase.configuration()) { otherBot in
                try await otherBot.sessionStore().session(shardID: 3, shardCount: 12)
            }
            #expect(other == nil)
            try await writer.sessionStore().save(nil, shardID: 3, shardCount: 12)
            #expect(try await writer.sessionStore().session(shardID: 3, shardCount: 12) == nil)
        }
    }

    @Test("a checkpoint saved inside the bot's own transaction commits or rolls back with it")
    func checkpointInTransaction() async throws {
        try await TestDatabase.withCluster { cluster in
            let store = cluster.sessionStore()
            let table = "results_\(UUID().uuidString.prefix(8).lowercased())"
            try await cluster.client.query(PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (sequence bigint)"))
            let logger = TestDatabase.quietLogger
            let session = GatewaySession(sessionID: "tx", sequence: 7, resumeGatewayURL: "wss://r")
            try await cluster.client.withTransaction(logger: logger) { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (7)"), logger: logger)
                try await store.save(session, shardID: 0, shardCount: 1, on: connection)
            }
            #expect(try await store.session(shardID: 0, shardCount: 1)?.sequence == 7)
            struct Abort: Error {}
            var later = session
            later.sequence = 8
            await #expect(throws: (any Error).self) {
                try await cluster.client.withTransaction(logger: logger) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "INSERT INTO \(table) VALUES (8)"), logger: logger)
                    try await store.save(later, shardID: 0, shardCount: 1, on: connection)
                    throw Abort()
                }
            }
            #expect(try await store.session(shardID: 0, shardCount: 1)?.sequence == 7)
            let rows = try await cluster.client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"))
            for try await count in rows.decode(Int.self) { #expect(count == 1) }
            try await cluster.client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
        }
    }

    @Test("a database failure is a typed error without the password; a wrong password too")
    func failuresRedacted() async throws {
        var configuration = try TestDatabase.configuration()
        configuration.password = "wrong-\(UUID().uuidString)"
        let cluster = try PostgresCluster(configuration: configuration, logger: TestDatabase.quietLogger)
        let running = Task { try await cluster.run() }
        defer { running.cancel() }
        do {
            try await cluster.migrate()
            Issue.record("a wrong password was accepted")
        } catch {
            #expect(error is PostgresClusterError)
            #expect(!"\(error)".contains(configuration.password!))
            #expect(!String(reflecting: error).contains(configuration.password!))
        }
        running.cancel()
        _ = await running.result
    }
}
