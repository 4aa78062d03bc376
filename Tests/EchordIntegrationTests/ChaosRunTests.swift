import EchordGateway
import EchordTesting
import EchordModels
import EchordSimulator
import EchordTestSupport
import Logging
import Testing

/// `echord simulate --chaos 20 --seed 7` against real shards, on manual time: the simulator's chaos
/// scheduler picks the faults (every kind it has) and its ledger judges the run. Time moves only
/// when every shard waits on the clock (ready, or sleeping out a backoff); while a shard connects or
/// handshakes the test waits for its status instead.
@Suite("Chaos run judged by the simulator's ledger", .timeLimit(.minutes(3 * TestTime.scale)))
struct ChaosRunTests {
    static let shardCount = 4
    static let step: Duration = .milliseconds(100)
    static let chaosSeconds = 300

    @Test("4 shards, 20 faults a minute per session for 5 simulated minutes (--duration 300): 0 lost that Discord's rules forbid, 0 needless IDENTIFYs")
    func chaosRun() async throws {
        var simConfig = SimulatorConfiguration()
        simConfig.timeSource = .manual
        simConfig.identifyBucketMilliseconds = 0
        simConfig.heartbeatIntervalMilliseconds = 5000
        simConfig.world.guildCount = 8
        simConfig.traffic.eventsPerSecond = 20
        simConfig.chaos = ChaosConfiguration(
            faultsPerMinute: 20, seed: 7, durationMilliseconds: Int64(Self.chaosSeconds) * 1000)
        var quiet = Logger(label: "echord.chaos-run")
        quiet.logLevel = .critical
        let simulator = try await GatewaySimulator.start(configuration: simConfig, logger: quiet)
        let clock = ManualClock()
        let shards = (0..<Self.shardCount).map { id in
            var config = ShardConfiguration(token: BotToken(Harness.token), intents: [.guilds, .guildMessages, .messageContent])
            config.gatewayURL = simulator.gatewayURL
            config.shardID = id
            config.shardCount = Self.shardCount
            return Shard(
                configuration: config, identifyQueue: UnlimitedIdentifyQueue(), clock: GatewayClock(clock), logger: quiet,
                seed: UInt64(200 + id))
        }
        let collectors = shards.map(EventCollector.init)
        _ = collectors  // the shards' event streams are consumed, as a bot's would be
        let runs = shards.map { shard in Task { try await shard.run() } }
        func stopAll() async {
            for shard in shards { shard.stop() }
            for run in runs { _ = await run.result }
        }

        func waitsOnTime(_ status: ShardStatus) -> Bool {
            switch status {
            case .idle, .connecting, .identifying, .resuming: false
            case .ready, .disconnected, .stopped: true
            }
        }
        do {
            var now: Duration = .zero
            // The chaos window, then 20 s for the last faults to play out.
            while now < .seconds(Self.chaosSeconds + 20) {
                let deadline = ContinuousClock.now + TestTime.bound(.seconds(60))
                while !shards.allSatisfy({ waitsOnTime($0.status) }) {
                    guard ContinuousClock.now < deadline else {
                        throw HarnessError.timedOut("shards never settled at \(now): \(shards.map(\.status))")
                    }
                    try await Task.sleep(for: .milliseconds(2))
                }
                // The simulator first: a frame a shard sends at its time t must not reach the
                // simulator before the simulator's time is t.
                try await simulator.advanceTime(by: Self.step)
                clock.advance(by: Self.step)
                now += Self.step
                try await Task.sleep(for: .milliseconds(1))
            }
        } catch {
            await stopAll()
            try? await simulator.shutdown()
            throw error
        }
        let report = try await simulator.chaosReport()
        await stopAll()
        try await simulator.shutdown()
        print(report.text)

        // 20 a minute for each live session: up to 400 over 5 minutes, fewer while shards are down.
        #expect(report.faultsInjected >= 150)
        #expect(report.faultsByKind.count == ChaosFaultKind.allCases.count, "\(report.faultsByKind)")
        #expect(report.lostForbidden == 0)
        #expect(report.identifiesWhereResumePossible == 0)
        #expect(report.passed)
        #expect(report.resumes >= 80)
        #expect(report.dispatchesDelivered >= 3000)
        #expect(report.shards.count == Self.shardCount)
        for shard in report.shards {
            #expect(shard.faults > 0)
            #expect((shard.readyShare ?? 0) > 0.6, "shard \(shard.shardID) ready \(shard.readyShare ?? 0)")
        }
    }
}
