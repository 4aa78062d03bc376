import EchordPostgres
import EchordTestSupport
import Testing

@Suite("PostgresClusterConfiguration: URL, password and redaction", .timeLimit(.minutes(3 * TestTime.scale)))
struct PostgresClusterConfigurationTests {
    @Test("a full URL is parsed; the password is kept but never described")
    func parsesURL() throws {
        let configuration = try PostgresClusterConfiguration(
            url: "postgres://bot%40x:s3cr%3At@db.example:6543/bots?sslmode=require", environment: [:])
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "bot@x")
        #expect(configuration.password == "s3cr:t")
        #expect(configuration.database == "bots")
        #expect(configuration.tls == .require)
        #expect(!configuration.description.contains("s3cr"))
        #expect(!configuration.redactedURL.contains("s3cr"))
        #expect(configuration.redactedURL.contains(":***@"))
    }

    @Test("without a password in the URL, PGPASSWORD is used; defaults: port 5432, sslmode prefer")
    func passwordFromEnvironment() throws {
        let configuration = try PostgresClusterConfiguration(
            url: "postgresql://echord@127.0.0.1/echord", environment: ["PGPASSWORD": "from-env"])
        #expect(configuration.password == "from-env")
        #expect(configuration.port == 5432)
        #expect(configuration.tls == .prefer)
        #expect(!"\(configuration)".contains("from-env"))
        let none = try PostgresClusterConfiguration(url: "postgres://echord@127.0.0.1/echord", environment: [:])
        #expect(none.password == nil)
        #expect(!none.redactedURL.contains("***"))
    }

    @Test("bad URLs are refused with a typed error that never holds the password", arguments: [
        "mysql://u:hunter2@h/db", "postgres://u:hunter2@/db", "postgres://:hunter2@h/db",
        "postgres://u:hunter2@h", "postgres://u:hunter2@h/db?sslmode=sometimes", "postgres://u:hunter2@h:99999/db",
        "not a url u:hunter2@",
    ])
    func badURLs(url: String) throws {
        do {
            _ = try PostgresClusterConfiguration(url: url, environment: [:])
            Issue.record("\(url) was accepted")
        } catch let error as PostgresClusterError {
            guard case .invalidURL = error else { Issue.record("unexpected \(error)"); return }
            #expect(!"\(error)".contains("hunter2"))
            #expect(!String(reflecting: error).contains("hunter2"))
        }
    }

    @Test("pool size and bot key out of range are refused when the cluster is made")
    func settingsChecked() throws {
        var configuration = try PostgresClusterConfiguration(url: "postgres://u@h/db", environment: [:])
        configuration.poolSize = 0
        #expect(throws: PostgresClusterError.self) { try PostgresCluster(configuration: configuration) }
        configuration.poolSize = 4
        configuration.botKey = ""
        #expect(throws: PostgresClusterError.self) { try PostgresCluster(configuration: configuration) }
    }
}
