import ArgumentParser
import EchordGateway
import EchordModels
import EchordSimulator
import Foundation
import Logging
import NIOConcurrencyHelpers

/// `echord` with no arguments: the embedded simulator and a sharded client against it, live.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the embedded simulator and a sharded client against it, with a live view.")

    @Option(help: "Number of shards.") var shards = 4
    @Option(help: "Synthetic events per second from the simulator.") var rate: Double = 200
    @Option(help: "Stop after this many seconds (exit status 0 when every shard reached ready and the simulator's ledger shows nothing lost that Discord's rules forbid).")
    var duration: Double?
    @Option(help: "Chaos: faults per minute per shard the simulator injects on its own (0: off).") var chaos: Double = 5
    @Option(help: "Seed of the chaos schedule.") var seed: UInt64 = 1
    @Option(help: "Transport compression: none, zlib-stream or zstd-stream.") var compress = GatewayCompression.zlibStream
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...256).contains(shards) else { throw ValidationError("--shards must be 1…256") }
        guard rate >= 0 else { throw ValidationError("--rate must be ≥ 0") }
        guard chaos >= 0 && chaos.isFinite else { throw ValidationError("--chaos must be ≥ 0 faults per minute") }
        if let duration, !(duration > 0) { throw ValidationError("--duration must be > 0") }
        guard compress.isAvailable else { throw ValidationError("zstd-stream needs echord built with --traits Zstd") }
    }

    func run() async throws {
        var logging = self.logging
        if logging.logLevel == .info { logging.logLevel = .warning }  // the live view is the output
        logging.bootstrap()
        var configuration = SimulatorConfiguration()
        configuration.world.guildCount = shards * 4
        configuration.world.membersPerGuild = 25
        configuration.recommendedShards = shards
        configuration.maxConcurrency = min(shards, 16)
        configuration.identifyBucketMilliseconds = 1000
        configuration.heartbeatIntervalMilliseconds = 5000
        configuration.traffic.eventsPerSecond = rate
        if chaos > 0 { configuration.chaos = ChaosConfiguration(faultsPerMinute: chaos, seed: seed) }
        let simulator = try await GatewaySimulator.start(configuration: configuration)
        let queue = LocalIdentifyQueue(maxConcurrency: configuration.maxConcurrency, interval: .seconds(1))
        let counters = NIOLockedValueBox([Int](repeating: 0, count: shards))
        let everReady = NIOLockedValueBox(Set<Int>())
        let finalReport = NIOLockedValueBox<ChaosReport?>(nil)
        let token = BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw.demo.echord")
        let fleet = (0..<shards).map { id in
            var shardConfiguration = ShardConfiguration(token: token, intents: [.guilds, .guildMessages, .guildMessageTyping, .messageContent, .guildMessageReactions])
            shardConfiguration.shardID = id
            shardConfiguration.shardCount = shards
            shardConfiguration.gatewayURL = simulator.gatewayURL
            shardConfiguration.compression = compress
            return Shard(configuration: shardConfiguration, identifyQueue: queue)
        }
        print("Echord demo: \(shards) shards against the embedded gateway simulator on \(simulator.baseURL) "
              + "(\(configuration.world.guildCount) guilds, \(Int(rate)) events/s, \(compress), "
              + (chaos > 0 ? "chaos: \(String(format: "%g", chaos)) faults/min per shard, seed \(seed)" : "chaos off") + "). Ctrl-C stops.")
        let start = ContinuousClock.now
        let interactive = isatty(STDOUT_FILENO) != 0
        await withTaskGroup(of: Void.self) { group in
            for shard in fleet {
                group.addTask { try? await shard.run() }
                group.addTask {
                    for await _ in shard.events { counters.withLockedValue { $0[shard.configuration.shardID] += 1 } }
                }
                group.addTask {
                    for await status in shard.statusUpdates() where status == .ready {
                        everReady.withLockedValue { _ = $0.insert(shard.configuration.shardID) }
                    }
                }
            }
            group.addTask {
                var view = DemoLiveView(shardCount: shards, interactive: interactive)
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    guard let report = try? await simulator.chaosReport() else { continue }
                    view.render(
                        fleet: fleet, events: counters.withLockedValue { $0 }, report: report,
                        uptime: start.duration(to: .now))
                }
            }
            await waitForTermination(duration: duration)
            // The ledger's verdict before the shards close their sessions.
            let report = try? await simulator.chaosReport()
            finalReport.withLockedValue { $0 = report }
            for shard in fleet { shard.stop() }
            try? await Task.sleep(for: .milliseconds(300))
            group.cancelAll()
        }
        try await simulator.shutdown()
        let ready = everReady.withLockedValue { $0.count }
        let events = counters.withLockedValue { $0.reduce(0, +) }
        print("\(ready) of \(shards) shards reached ready; \(events) events received.")
        guard let report = finalReport.withLockedValue({ $0 }) else { throw ExitCode(1) }
        let survived = report.shards.map(\.faultsSurvived).reduce(0, +)
        print("\(report.faultsInjected) faults, \(survived) survived; \(report.resumes) resumes, \(report.identifies) identifies "
              + "(\(report.identifiesWhereResumePossible) where a RESUME was possible); simulator ledger: "
              + "\(report.dispatchesDelivered) dispatches acknowledged, \(report.dispatchesInFlight) in flight, "
              + "\(report.lostAllowed) lost as Discord's rules allow, \(report.lostForbidden) lost that they forbid.")
        if ready < shards || !report.passed { throw ExitCode(1) }
    }
}

extension GatewayCompression: ExpressibleByArgument {}

/// `text` padded with spaces to `width` (on the left when `right`).
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}
