import EchordGateway
import EchordModels
import EchordPostgres
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

@testable import echord

@Suite("echord listen --cluster and echord cluster status", .timeLimit(.minutes(3 * TestTime.scale)))
struct ClusterCommandTests {
    static let databaseURL = ProcessInfo.processInfo.environment["ECHORD_POSTGRES_TEST_URL"]

    @Test("--cluster needs --shards N; a bad URL is refused without echoing its password")
    func validation() throws {
        for arguments in [
            ["--token", "t", "--cluster", "postgres://u:hunter2@h/db"],
            ["--token", "t", "--cluster", "postgres://u:hunter2@h", "--shards", "4"],
            ["--token", "t", "--cluster", "postgres://u:hunter2@h/db", "--shards", "4", "--lease-ttl", "0"],
        ] {
            do {
                _ = try Listen.parse(arguments)
                Issue.record("\(arguments) was accepted")
            } catch {
                let message = Listen.message(for: error)
                #expect(!message.isEmpty)
                #expect(!message.contains("hunter2"), "\(message)")
            }
        }
        let listen = try Listen.parse(["--token", "t", "--cluster", "postgres://u@h/db", "--shards", "4", "--lease-ttl", "3"])
        let settings = try #require(try listen.clusterSettings(environment: ["PGPASSWORD": "pw"]))
        #expect(settings.shardCount == 4)
        #expect(settings.leaseTTL == .seconds(3))
        #expect(settings.database.password == "pw")
    }

    @Test("a cluster member prints its shards' dispatches; cluster status shows its leases, then its checkpoints after the handover",
          .enabled(if: databaseURL != nil))
    func listenAndStatus() async throws {
        let simulator = try await GatewaySimulator.start(
            configuration: SimulatorConfiguration(shards: 2, guilds: 4, maxConcurrency: 2, identifyBucketMilliseconds: 0),
            logger: quietLogger)
        var database = try PostgresClusterConfiguration(url: try #require(Self.databaseURL))
        database.botKey = "cli-\(UUID().uuidString.prefix(8))"
        let settings = ListenSettings(
            token: BotToken(testToken), apiBaseURL: simulator.apiBaseURL, shardCount: .exactly(2), compression: .none,
            intents: [.guilds], events: nil, format: .json)
        let cluster = ClusterListenSettings(database: database, shardCount: 2, leaseTTL: .seconds(3), checkpointInterval: .seconds(1))
        let sink = MemorySink()
        let stop = StopSwitch()
        let running = Task {
            try await listenCluster(settings, cluster: cluster, sink: sink, logger: quietLogger) { await stop.wait() }
        }
        try await eventually("both shards READY") {
            Set(try sink.lines.map(ListenLine.init).filter { $0.t == "READY" }.map(\.shard)) == [0, 1]
        }
        let observer = try PostgresCluster(configuration: database, logger: quietLogger)
        let observing = Task { try await observer.run() }
        defer { observing.cancel() }
        let during = try await observer.status()
        #expect(during.members.count == 1)
        #expect(during.members.first?.shards == [0, 1])
        #expect(during.leases.map(\.epoch) == [1, 1])
        let json = ClusterStatusCommand.json(during)
        #expect(try JSONDecoder().decode(ClusterStatus.self, from: Data(json.utf8)) == during)
        #expect(ClusterStatusCommand.pretty(during).contains("shard 1  holder"))
        stop.raise()
        let summary = try await running.value
        #expect(summary.received >= 4)
        let after = try await observer.status()
        #expect(after.leases.allSatisfy { $0.holder == nil })
        #expect(after.sessions.map(\.shardID) == [0, 1])
        #expect(after.members.isEmpty)
        try await simulator.shutdown()
    }
}
