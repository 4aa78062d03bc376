import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOSSL
import PostgresNIO
import ServiceLifecycle

/// One process's handle on a cluster database: a connection pool, the schema migrations, and the
/// notifications that wake identify waiters.
///
/// ```swift
/// let cluster = try PostgresCluster(configuration: PostgresClusterConfiguration(url: url))
/// try await withThrowingDiscardingTaskGroup { group in
///     group.addTask { try await cluster.run() }         // the pool and the LISTEN connection
///     try await cluster.migrate()                       // idempotent; safe from every process at once
///     let store = cluster.sessionStore()
///     let queue = cluster.identifyQueue(maxConcurrency: 16)
///     // ... a ShardManager with `sessionStore: store, identifyQueue: queue`
/// }
/// ```
///
/// ``run()`` must be running for queries to be served (it is a swift-service-lifecycle `Service`
/// too). Errors never carry the password: database failures are
/// ``PostgresClusterError/databaseFailed(operation:reason:)`` with the server's message only.
public final class PostgresCluster: Service, Sendable {
    /// The configuration (its description is redacted).
    public let configuration: PostgresClusterConfiguration
    /// The connection pool: run your own queries and transactions on it (for example your results
    /// and a shard's checkpoint in one transaction, see ``PostgresSessionStore``).
    public let client: PostgresClient
    let logger: Logger
    let notifications = NotificationHub()

    /// The NOTIFY channel every Echord process listens on (payloads name the bot and topic).
    static let channel = "echord_cluster"

    /// A cluster handle; nothing connects until ``run()``.
    ///
    /// - Throws: ``PostgresClusterError/invalidSetting(name:reason:)`` for a pool size or bot key
    ///   out of range.
    public init(configuration: PostgresClusterConfiguration, logger: Logger = Logger(label: "echord.postgres")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let tls: PostgresClient.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var clientConfiguration = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: tls)
        // One connection is held by the LISTEN loop: keep at least one more for queries.
        clientConfiguration.options.maximumConnections = configuration.poolSize + 1
        clientConfiguration.options.connectTimeout = .seconds(5)
        self.client = PostgresClient(configuration: clientConfiguration)
    }

    /// Runs the connection pool and the LISTEN loop until cancelled (or, as a `Service`, until
    /// graceful shutdown). A lost LISTEN connection is opened again with backoff; waiters are
    /// woken on every reconnect, since notifications may have been missed meanwhile.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.client.run() }
                group.addTask { await self.listenLoop() }
            }
        }
    }

    private func listenLoop() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        failures = 0
                        self.notifications.postAll()
                        for try await notification in notifications {
                            self.notifications.post(notification.payload)
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                failures += 1
                // The first loss is often the pool closing at shutdown: only repeated losses warn.
                logger.log(level: failures > 1 ? .warning : .debug, "cluster LISTEN connection lost; reconnecting", metadata: [
                    "reason": "\(Self.describe(error))", "attempt": "\(failures)",
                ])
                notifications.postAll()
            }
            try? await Task.sleep(for: .milliseconds(min(5_000, 100 * (1 << min(failures, 6)))))
        }
    }

    /// Brings the schema up to date (see ``PostgresClusterSchema``); every process may call it at
    /// start, at the same time: an advisory lock serializes them, and applied versions are skipped.
    ///
    /// - Throws: ``PostgresClusterError/schemaTooNew(found:known:)`` when another, newer Echord
    ///   migrated the database; ``PostgresClusterError/databaseFailed(operation:reason:)``.
    public func migrate() async throws {
        try await PostgresClusterSchema.migrate(self)
    }

    /// A session store on this cluster's database, for this bot key.
    public func sessionStore() -> PostgresSessionStore {
        PostgresSessionStore(cluster: self)
    }

    /// An identify queue shared by every process of this bot key.
    ///
    /// - Parameters:
    ///   - maxConcurrency: `session_start_limit.max_concurrency` (the bucket count).
    ///   - interval: how long a bucket stays busy after an IDENTIFY is written (Discord's 5 s plus
    ///     0.5 s, as `LocalIdentifyQueue`).
    ///   - holdLimit: how long a turn may stay granted without being reported before other
    ///     processes may take the bucket (a process that died holding it).
    public func identifyQueue(
        maxConcurrency: Int, interval: Duration = .milliseconds(5500), holdLimit: Duration = .seconds(60)
    ) -> PostgresIdentifyQueue {
        PostgresIdentifyQueue(cluster: self, maxConcurrency: maxConcurrency, interval: interval, holdLimit: holdLimit)
    }

    /// Runs `body`, turning any PostgresNIO error into ``PostgresClusterError/databaseFailed(operation:reason:)``
    /// (the server's message only: PostgresNIO's own description never holds credentials, and we
    /// add none).
    @discardableResult
    func perform<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw failure(operation, error)
        }
    }

    /// Runs `body` as a child task and reports failure after `limit`, but returns only once `body`
    /// has ended too (it is cancelled then): a checkpoint save, so that a handover releases the
    /// lease only after a slow save has landed. A query that never returns holds it (see
    /// ``withTimeLimit(_:_:_:)`` for the calls that must not wait).
    func withTimeLimitAwaitingBody<T: Sendable>(
        _ limit: Duration, _ operation: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw PostgresClusterError.databaseFailed(operation: operation, reason: "no answer within \(limit)")
            }
            return value
        }
    }

    /// Runs `body` but gives up after `limit`: a database that does not answer (down, or behind a
    /// dead connection) must not hold a shard or the lease loop for longer than that.
    ///
    /// `body` runs in a task of its own, not a child task: a PostgresNIO query written on a pooled
    /// connection at the moment the server closed it can stay unanswered for good, and it ignores
    /// cancellation (seen when PostgreSQL restarted under load: a member's heartbeat never
    /// returned). A child task would hold this call, and the member, until then. On timeout the
    /// task is left to finish on its own (not cancelled, so a write that was only slow still
    /// lands): it ends with its query, or holds that one query's memory.
    func withTimeLimit<T: Sendable>(
        _ limit: Duration, _ operation: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let outcome = Outcome<T>()
        let work = Task {
            do {
                outcome.finish(.success(try await body()))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        _ = work  // never cancelled: a slow write still lands (a save is fenced by its epoch)
        // Only the wait for the outcome is raced against the limit (and cancelled), not the query.
        return try await withTimeLimitAwaitingBody(limit, operation) { try await outcome.value() }
    }

    /// `error` as a ``PostgresClusterError`` (our own errors and cancellation pass through, also
    /// out of a transaction's wrapper).
    func failure(_ operation: String, _ error: any Error) -> any Error {
        var error = error
        if let wrapped = error as? PostgresTransactionError {
            error = wrapped.closureError ?? wrapped.beginError ?? wrapped.commitError ?? error
        }
        switch error {
        case let error as PostgresClusterError:
            return error
        case is CancellationError:
            return error
        default:
            let failure = PostgresClusterError.databaseFailed(operation: operation, reason: Self.describe(error))
            logger.debug("database operation failed", metadata: ["operation": "\(operation)", "reason": "\(failure)"])
            return failure
        }
    }

    /// The server's message for a PostgresNIO error, or the error's own (credential-free) text.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let code = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + code
            }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Runs `body` on a connection of its own (not from the pool), closed after.
    func withDirectConnection<T>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let tls: PostgresConnection.Configuration.TLS
        switch configuration.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
        case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
        }
        var connectionConfiguration = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: tls)
        connectionConfiguration.options.connectTimeout = .seconds(10)
        let connection = try await PostgresConnection.connect(
            on: PostgresClient.defaultEventLoopGroup.next(), configuration: connectionConfiguration, id: 0, logger: logger)
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The payload that wakes the waiters of `topic` for this bot.
    func topic(_ topic: String) -> String { "\(configuration.botKey)/\(topic)" }

    /// Wakes the waiters of `topic` in every process of this bot (after the caller's change is
    /// committed).
    func notify(_ topic: String) async throws {
        try await client.query("SELECT pg_notify(\(Self.channel), \(self.topic(topic)))")
    }
}

/// The result of work that may never end, awaited by whoever asks for it: ``value()`` returns once
/// ``finish(_:)`` was called, or throws `CancellationError` when the waiting task is cancelled
/// (the work goes on; see ``PostgresCluster/withTimeLimit(_:_:_:)``).
final class Outcome<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
        var cancelled = false
    }

    private let state = NIOLockedValueBox(State())

    func finish(_ result: Result<T, any Error>) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<T, any Error>? in
            guard case .none = state.result else { return nil }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    /// One waiter at a time.
    func value() async throws -> T {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let now = state.withLockedValue { state -> Result<T, any Error>? in
                    if let result = state.result { return result }
                    if state.cancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state -> CheckedContinuation<T, any Error>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
