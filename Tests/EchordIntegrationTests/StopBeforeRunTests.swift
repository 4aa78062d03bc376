import EchordGateway
import EchordModels
import EchordTestSupport
import EchordTesting
import Logging
import Testing

/// A stop that comes before `run()` (a ShardManager stopping while it makes a shard): `run()`
/// must return at once. It used to wait for an input that never came, holding the manager's
/// `run()` and, under load, the whole test run.
@Suite("A shard stopped before it runs", .timeLimit(.minutes(3 * TestTime.scale)))
struct StopBeforeRunTests {
    @Test("stop() then run(): run() returns without connecting, the status is stopped", arguments: [false, true])
    func stopThenRun(keepSession: Bool) async throws {
        var configuration = ShardConfiguration(token: BotToken(Harness.token), intents: .guilds)
        configuration.gatewayURL = "ws://127.0.0.1:1/gateway"  // never dialled
        var quiet = Logger(label: "echord.test")
        quiet.logLevel = .critical
        let shard = Shard(configuration: configuration, clock: GatewayClock(ManualClock()), logger: quiet)
        shard.stop(keepSession: keepSession)
        let returned = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await shard.run()
                return true
            }
            group.addTask {
                try await Task.sleep(for: .seconds(60))
                return false
            }
            let first = try await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(returned, "run() did not return within 60 s of real time")
        #expect(shard.status == .stopped(error: nil))
    }
}
