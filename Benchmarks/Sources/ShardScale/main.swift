// N shards in one process against a simulator in another: memory per idle shard and CPU in steady
// state.
//
//   swift build -c release --product echord
//   .build/release/echord simulate --port 8090 --guilds 1000 --shards 1000 --max-concurrency 1000 --log-level warning &
//   swift run -c release --package-path Benchmarks ShardScale --shards 1000 --api http://127.0.0.1:8090/api/v10 [--compress zlib-stream] [--hold 30]
import EchordGateway
import EchordModels
import Foundation
import Logging

var shardCount = 1000
var api = "http://127.0.0.1:8090/api/v10"
var compression = GatewayCompression.none
var hold = 30.0
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--shards": shardCount = Int(arguments.next() ?? "") ?? shardCount
    case "--api": api = arguments.next() ?? api
    case "--compress": compression = GatewayCompression(rawValue: arguments.next() ?? "") ?? compression
    case "--hold": hold = Double(arguments.next() ?? "") ?? hold
    default: print("unknown argument \(argument)"); exit(2)
    }
}

func residentKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

var configuration = ShardManager.Configuration(token: BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw.scale.echord"), intents: [.guilds])
configuration.apiBaseURL = api
configuration.shardCount = .exactly(shardCount)
configuration.compression = compression
configuration.keepSessionsOnShutdown = false
let manager = ShardManager(configuration: configuration)
let baseline = residentKiB()
let started = Date()
let running = Task { try await manager.run() }
let drain = Task { for await _ in manager.events {} }
while !(manager.health.allReady && manager.statuses.count == shardCount) {
    if Date().timeIntervalSince(started) > 300 { print("not all ready after 300 s: \(manager.health.lagging.count) lagging"); exit(1) }
    try await Task.sleep(for: .milliseconds(100))
}
let readyAfter = Date().timeIntervalSince(started)
try await Task.sleep(for: .seconds(2))
let rssReady = residentKiB()
let cpu0 = cpuSeconds()
try await Task.sleep(for: .seconds(hold))
let cpu1 = cpuSeconds()
let rssHeld = residentKiB()
print("shards ready: \(shardCount) (\(compression)) in \(String(format: "%.1f", readyAfter)) s")
print("RSS: \(baseline) KiB before, \(rssReady) KiB ready, \(rssHeld) KiB after \(Int(hold)) s idle")
print(String(format: "memory per idle shard: %.1f KiB", Double(rssHeld - baseline) / Double(shardCount)))
print(String(format: "CPU in steady state: %.2f %% of a core", (cpu1 - cpu0) / hold * 100))
manager.stop()
_ = try? await running.value
drain.cancel()
