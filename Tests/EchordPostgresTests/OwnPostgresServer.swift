import EchordPostgres
import EchordTestSupport
import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server of one test's own, made with `scripts/postgres-test-server.sh` (its own data
/// directory and port): a test that stops and starts its server never disturbs the suites that
/// share `ECHORD_POSTGRES_TEST_URL`, which run at the same time.
struct OwnPostgresServer: Sendable {
    /// Its URL (with the password: never logged).
    let url: String
    /// Its directory (data, log, port).
    let directory: String

    enum Failure: Error, CustomStringConvertible {
        case script(command: String, status: Int32, stderr: String)
        case output(String)

        var description: String {
            switch self {
            case .script(let command, let status, let stderr): "postgres-test-server.sh \(command) exited \(status): \(stderr)"
            case .output(let missing): "postgres-test-server.sh start printed no \(missing)"
            }
        }
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/postgres-test-server.sh").path

    /// Starts a fresh server (initdb, a free port).
    static func start() async throws -> OwnPostgresServer {
        let output = try await run(["start"])
        func value(_ key: String) throws -> String {
            guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("\(key)=") }) else {
                throw Failure.output(key)
            }
            return String(line.dropFirst(key.count + 1))
        }
        return OwnPostgresServer(url: try value("ECHORD_POSTGRES_TEST_URL"), directory: try value("ECHORD_POSTGRES_TEST_DATA"))
    }

    /// A cluster configuration for this server with a bot key of its own.
    func configuration(poolSize: Int = 4) throws -> PostgresClusterConfiguration {
        var configuration = try PostgresClusterConfiguration(url: url)
        configuration.botKey = "restart-\(UUID().uuidString.prefix(8))"
        configuration.poolSize = poolSize
        return configuration
    }

    /// Stops the server (fast shutdown: every connection ends), keeping its data.
    func halt() async throws { _ = try await Self.run(["halt", directory]) }
    /// Starts the halted server again on its port.
    func resume() async throws { _ = try await Self.run(["resume", directory]) }
    /// Stops the server and deletes its directory.
    func remove() async { _ = try? await Self.run(["stop", directory]) }

    /// Runs the script with `arguments`; its standard output. Reads and waits on threads of their
    /// own, never on the concurrency pool.
    private static func run(_ arguments: [String]) async throws -> String {
        let started = try ChildProcessSpawn.spawn("/bin/bash", arguments: [script] + arguments, environment: ProcessInfo.processInfo.environment)
        let output = NIOLockedValueBox<(stdout: [UInt8], stderr: [UInt8])>(([], []))
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread {
                let status = ChildProcessSpawn.readOutputsUntilExit(started) { chunk, isStdout in
                    output.withLockedValue { if isStdout { $0.stdout += chunk } else { $0.stderr += chunk } }
                }
                continuation.resume(returning: status)
            }.start()
        }
        let (stdout, stderr) = output.withLockedValue { (String(decoding: $0.stdout, as: UTF8.self), String(decoding: $0.stderr, as: UTF8.self)) }
        guard status == 0 else { throw Failure.script(command: arguments.first ?? "", status: status, stderr: stderr) }
        return stdout
    }
}
