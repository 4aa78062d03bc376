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
    @Option(help: "Stop after this many seconds (exit status 0 when every shard reached ready).")
    var duration: Double?
    @Option(help: "Transport compression: none, zlib-stream or zstd-stream.") var compress = GatewayCompression.zlibStream
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...256).contains(shards) else { throw ValidationError("--shards must be 1…256") }
        guard rate >= 0 else { throw ValidationError("--rate must be ≥ 0") }
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
        let simulator = try await GatewaySimulator.start(configuration: configuration)
        let queue = LocalIdentifyQueue(maxConcurrency: configuration.maxConcurrency, interval: .seconds(1))
        let counters = NIOLockedValueBox([Int](repeating: 0, count: shards))
        let everReady = NIOLockedValueBox(Set<Int>())
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
              + "(\(configuration.world.guildCount) guilds, \(Int(rate)) events/s, \(compress)). Ctrl-C stops.")
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
                var previous = [Int](repeating: 0, count: shards)
                var lines = 0
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    let now = counters.withLockedValue { $0 }
                    var table = ["shard  status                latency   events   events/s"]
                    for shard in fleet {
                        let id = shard.configuration.shardID
                        let latency = shard.heartbeatLatency.map { String(format: "%.1f ms", Double($0.nanosecondsValue) / 1e6) } ?? "-"
                        table.append(
                            pad(String(id), 5, right: true) + "  " + pad("\(shard.status)", 20) + "  "
                                + pad(latency, 8, right: true) + " " + pad(String(now[id]), 8, right: true) + " "
                                + pad(String(now[id] - previous[id]), 10, right: true))
                    }
                    let total = now.reduce(0, +) - previous.reduce(0, +)
                    let elapsed = start.duration(to: .now)
                    table.append(String(format: "ready %d/%d   total events/s %d   uptime %.0f s",
                                        fleet.filter { $0.status == .ready }.count, shards, total,
                                        Double(elapsed.components.seconds)))
                    if interactive && lines > 0 { print("\u{1B}[\(lines)A", terminator: "") }
                    print(table.map { interactive ? $0 + "\u{1B}[K" : $0 }.joined(separator: "\n"))
                    fflush(nil)
                    lines = table.count
                    previous = now
                }
            }
            await waitForTermination(duration: duration)
            for shard in fleet { shard.stop() }
            try? await Task.sleep(for: .milliseconds(300))
            group.cancelAll()
        }
        try await simulator.shutdown()
        let ready = everReady.withLockedValue { $0.count }
        print("\(ready) of \(shards) shards reached ready; \(counters.withLockedValue { $0.reduce(0, +) }) events received.")
        if ready < shards { throw ExitCode(1) }
    }
}

extension GatewayCompression: ExpressibleByArgument {}

extension Duration {
    var nanosecondsValue: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// `text` padded with spaces to `width` (on the left when `right`).
func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}
