import EchordGateway
import EchordSimulator
import Foundation
import Logging
import NIOConcurrencyHelpers
import EchordTestSupport
import Testing

@testable import echord

enum CLITestError: Error, CustomStringConvertible {
    case timedOut(String)
    case binaryMissing(String)
    case spawnFailed(String)
    var description: String {
        switch self {
        case .spawnFailed(let why): "could not start echord: \(why)"
        case .timedOut(let what): "timed out: \(what)"
        case .binaryMissing(let path): "the echord binary is not at \(path) (build it: swift build --product echord)"
        }
    }
}

let testToken = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.echord-cli-test"

var quietLogger: Logger {
    var logger = Logger(label: "echord.cli-test")
    logger.logLevel = .critical
    return logger
}

/// Waits (real time, bounded) until `condition` holds, checking every 10 ms.
func eventually(
    _ what: @autoclosure () -> String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + TestTime.bound(timeout)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if try await condition() { return }
    throw CLITestError.timedOut(what())
}

/// A stop signal a test raises; `wait()` returns once it is raised (or at once if it was).
final class StopSwitch: Sendable {
    private let state = NIOLockedValueBox<(raised: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func raise() {
        let waiters = state.withLockedValue { state in
            state.raised = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLockedValue { state -> Bool in
                if state.raised { return true }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// One line of `listen --format json`.
struct ListenLine {
    var shard: Int
    var s: Int?
    var t: String
    var d: Any?

    init(_ line: String) throws {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
        guard let dictionary = object as? [String: Any], Set(dictionary.keys) == ["shard", "s", "t", "d"],
            let shard = dictionary["shard"] as? Int, let t = dictionary["t"] as? String
        else { throw CLITestError.timedOut("not a listen line: \(line)") }
        self.shard = shard
        self.s = dictionary["s"] as? Int
        self.t = t
        self.d = dictionary["d"]
    }

    /// `d.n` of an `ECHORD_MARK` dispatch.
    var mark: Int? { t == "ECHORD_MARK" ? (d as? [String: Any])?["n"] as? Int : nil }
}

/// The path of the built `echord` binary: beside the test bundle (`.build/<triple>/debug`), or
/// `ECHORD_BIN`.
func echordBinary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["ECHORD_BIN"] { return path }
    let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    var directory = executable.deletingLastPathComponent()
    // On macOS the runner sits inside EchordPackageTests.xctest/Contents/MacOS.
    while directory.path.contains(".xctest") { directory = directory.deletingLastPathComponent() }
    let path = directory.appendingPathComponent("echord").path
    guard FileManager.default.isExecutableFile(atPath: path) else { throw CLITestError.binaryMissing(path) }
    return path
}

/// A child process whose output is read, and whose exit is awaited, on dedicated threads (never on
/// the Swift concurrency pool).
///
/// Spawned and reaped through ``ChildProcessSpawn`` (not Foundation's `Process`).
final class ChildProcess: Sendable {
    private let pid: pid_t
    private let output = NIOLockedValueBox<(stdout: [UInt8], stderr: [UInt8])>(([], []))
    private let exit = NIOLockedValueBox<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    /// Starts `echord arguments…` with `environment` added to this process's environment.
    init(arguments: [String], environment: [String: String] = [:]) throws {
        let binary = try echordBinary()
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DISCORD_TOKEN")
        env.merge(environment) { $1 }
        let started: ChildProcessSpawn.Started
        do {
            started = try ChildProcessSpawn.spawn(binary, arguments: arguments, environment: env)
        } catch {
            throw CLITestError.spawnFailed("\(error)")
        }
        let pid = started.pid
        self.pid = pid
        let output = self.output
        let exit = self.exit
        Thread {
            // Every byte read before anyone sees the exit.
            let status = ChildProcessSpawn.readOutputsUntilExit(started) { chunk, isStdout in
                output.withLockedValue { if isStdout { $0.stdout += chunk } else { $0.stderr += chunk } }
            }
            let waiters = exit.withLockedValue { state in
                state.status = status
                defer { state.waiters = [] }
                return state.waiters
            }
            waiters.forEach { $0.resume(returning: status) }
        }.start()
    }

    var stdout: String { output.withLockedValue { String(decoding: $0.stdout, as: UTF8.self) } }
    var stderr: String { output.withLockedValue { String(decoding: $0.stderr, as: UTF8.self) } }

    /// Sends SIGTERM.
    func terminate() { kill(pid, SIGTERM) }

    /// Waits for the exit status (signals as 128 + n); after `timeout` the process is killed and
    /// this throws.
    func waitForExit(timeout: Duration = .seconds(120)) async throws -> Int32 {
        let exited: Int32? = try await withThrowingTaskGroup(of: Int32?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let status = self.exit.withLockedValue { state -> Int32? in
                        if state.status == nil { state.waiters.append(continuation) }
                        return state.status
                    }
                    if let status { continuation.resume(returning: status) }
                }
            }
            let pid = self.pid
            group.addTask {
                try await Task.sleep(for: TestTime.bound(timeout))
                kill(pid, SIGKILL)  // the waiter above then returns too
                return nil
            }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        if let exited { return exited }
        throw CLITestError.timedOut("echord did not exit within \(timeout); stderr: \(stderr)")
    }
}
