import ArgumentParser
import EchordModels
import EchordSimulator
import Foundation
import Logging

@main
struct Echord: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echord",
        abstract: "Echord: Discord Gateway tools for Swift.",
        discussion: """
            With no subcommand, echord runs `demo`: the embedded gateway simulator with synthetic traffic \
            and a sharded client against it, with a live view. `listen` connects to Discord (or a \
            simulator) with a token and prints events; `bench` measures N shards in one process.
            """,
        subcommands: [Demo.self, Simulate.self, Listen.self, Bench.self, ClusterCommand.self],
        defaultSubcommand: Demo.self)
}

/// Options shared by the commands that log.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. trace shows every frame.")
    var logLevel: Logger.Level = .info

    func bootstrap() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
extension SimulatorScenario: ExpressibleByArgument {}

/// Waits for SIGINT or SIGTERM, or for `duration` seconds when given.
func waitForTermination(duration: Double?) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let once = OnceFlag()
        let resume: @Sendable () -> Void = { if once.set() { continuation.resume() } }
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: resume)
            source.resume()
            SignalSources.keep(source)
        }
        if let duration {
            DispatchQueue.global().asyncAfter(deadline: .now() + duration, execute: resume)
        }
    }
}

/// Keeps signal sources alive for the life of the process.
enum SignalSources {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []
    private static let lock = NSLock()
    static func keep(_ source: DispatchSourceSignal) {
        lock.lock()
        defer { lock.unlock() }
        sources.append(source)
    }
}

/// A flag that can be set once, from any thread.
final class OnceFlag: Sendable {
    private let lock = NSLock()
    // Guarded by `lock`: only read and written inside `set()` while the lock is held.
    nonisolated(unsafe) private var done = false
    /// Sets the flag; true only for the first caller.
    func set() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if done { return false }
        done = true
        return true
    }
}
