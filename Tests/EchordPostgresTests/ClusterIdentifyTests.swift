import EchordGateway
import EchordModels
import EchordPostgres
import EchordSimulator
import EchordTestSupport
import Foundation
import Logging
import Testing

@Suite("Identifies of several ShardManagers through PostgreSQL, against the simulator", .enabled(if: TestDatabase.available), .timeLimit(.minutes(3 * TestTime.scale)))
struct ClusterIdentifyTests {
    static let token = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.echord-postgres"

    /// The shard id of a logged IDENTIFY (`"shard":[id,count]`).
    static func shardID(inIdentify text: String?) -> Int? {
        guard let text, let range = text.range(of: "\"shard\":[") else { return nil }
        return Int(text[range.upperBound...].prefix { $0 != "," })
    }

    @Test("3 processes (own managers and pools) share 24 shards at max_concurrency 4: no bucket broken")
    func threeManagersNeverBreakABucket() async throws {
        let simulator = try await GatewaySimulator.start(
            configuration: SimulatorConfiguration(shards: 24, guilds: 48, maxConcurrency: 4, identifyBucketMilliseconds: 1000),
            logger: TestDatabase.quietLogger)
        let configuration = try TestDatabase.configuration()
        do {
            try await TestDatabase.withCluster(configuration) { a in
                try await TestDatabase.withCluster(configuration) { b in
                    try await TestDatabase.withCluster(configuration) { c in
                        let managers = [a, b, c].enumerated().map { index, cluster in
                            var managerConfiguration = ShardManager.Configuration(token: BotToken(Self.token), intents: [.guilds])
                            managerConfiguration.apiBaseURL = simulator.apiBaseURL
                            managerConfiguration.shard.compression = .none
                            managerConfiguration.shardCount = .exactly(24)
                            managerConfiguration.shardIDs = Array(stride(from: index, to: 24, by: 3))
                            return ShardManager(
                                configuration: managerConfiguration, sessionStore: cluster.sessionStore(),
                                identifyQueue: cluster.identifyQueue(maxConcurrency: 4, interval: .milliseconds(1200)),
                                logger: TestDatabase.quietLogger)
                        }
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            for manager in managers { group.addTask { try await manager.run() } }
                            let deadline = ContinuousClock.now + TestTime.bound(.seconds(120))
                            while !managers.allSatisfy({ $0.health.allReady && $0.statuses.count == 8 }) {
                                guard ContinuousClock.now < deadline else {
                                    Issue.record("not all ready: \(managers.map(\.statuses))")
                                    break
                                }
                                try await Task.sleep(for: .milliseconds(100))
                            }
                            for manager in managers { manager.stop() }
                            try await group.waitForAll()
                        }
                    }
                }
            }
            let identifies = try await simulator.log().filter { $0.kind == .received && $0.opcode == 2 }
            #expect(Set(identifies.compactMap { Self.shardID(inIdentify: $0.text) }) == Set(0..<24))
            #expect(identifies.count == 24)
            let rules = try await simulator.violations()
            #expect(rules.isEmpty, "\(rules)")
            try await simulator.shutdown()
        } catch {
            try? await simulator.shutdown()
            throw error
        }
    }
}
