import EchordGateway
import EchordPostgres
import Foundation
import Logging
import Testing

/// The PostgreSQL server of the suites: `ECHORD_POSTGRES_TEST_URL` (see
/// `scripts/postgres-test-server.sh`). Without it the database suites are skipped; `.ci/run` sets it
/// and fails when they were skipped.
enum TestDatabase {
    static let url = ProcessInfo.processInfo.environment["ECHORD_POSTGRES_TEST_URL"]
    static var available: Bool { url != nil }

    static var quietLogger: Logger {
        var logger = Logger(label: "echord.postgres.test")
        logger.logLevel = .critical
        return logger
    }

    /// A configuration for the test server with a bot key of its own, so that tests running at
    /// the same time never see each other's rows.
    static func configuration(botKey: String = "test-\(UUID().uuidString.prefix(8))", poolSize: Int = 4) throws
        -> PostgresClusterConfiguration
    {
        var configuration = try PostgresClusterConfiguration(url: try #require(url))
        configuration.botKey = botKey
        configuration.poolSize = poolSize
        return configuration
    }

    /// Runs `body` with a running, migrated cluster handle (its own pool); stops it after.
    static func withCluster<T: Sendable>(
        _ configuration: PostgresClusterConfiguration? = nil, _ body: (PostgresCluster) async throws -> T
    ) async throws -> T {
        let cluster = try PostgresCluster(configuration: try configuration ?? self.configuration(), logger: quietLogger)
        let running = Task { try await cluster.run() }
        defer { running.cancel() }
        do {
            try await cluster.migrate()
            let result = try await body(cluster)
            running.cancel()
            _ = await running.result
            return result
        } catch {
            running.cancel()
            _ = await running.result
            throw error
        }
    }
}
