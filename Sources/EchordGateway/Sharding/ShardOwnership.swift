import EchordModels
import NIOConcurrencyHelpers

/// Decides, while a ``ShardManager`` runs, which of the bot's shards run in this process: cluster
/// mode, where shards come and go as leases are won and lost (EchordPostgres's `ClusterMember` is
/// one). Give it to ``ShardManager/init(configuration:ownership:clock:logger:)``.
///
/// The manager still runs every shard: it makes each one, delivers its dispatches into the one
/// bounded ``ShardManager/events`` stream, routes commands, and reports ``ShardManager/statuses``
/// and ``ShardManager/health`` over the shards held now.
public protocol ShardOwnership: Sendable {
    /// Runs for as long as the manager runs: starts shards with ``OwnedShards/start(_:sessionStore:identifyQueue:onEnd:)``
    /// as it wins them, and stops them (``Shard/stop(keepSession:)``) as it loses them.
    ///
    /// The manager calls it once, after gateway discovery. After ``ShardManager/stop()``
    /// (``OwnedShards/isStopRequested``) it should give its shards up and return; the manager's
    /// ``ShardManager/run()`` returns once it has and every shard has ended (the manager stops,
    /// keeping their sessions, the shards it left running). Its error ends the manager with that
    /// error; it is cancelled when the manager's task is.
    func run(_ shards: OwnedShards) async throws
}

/// A ``ShardOwnership``'s handle on its manager: what discovery found, and how to start shards.
public struct OwnedShards: Sendable {
    /// What `GET /gateway/bot` answered (the gateway URL, the session start limit and
    /// `max_concurrency`).
    public let gateway: GatewayBotInfo
    /// The bot's shard count (the manager's ``ShardManager/Configuration/shardCount``).
    public let shardCount: Int
    let manager: ShardManager
    let starts: AsyncStream<OwnedStart>.Continuation

    /// Whether ``ShardManager/stop()`` was called (or a graceful shutdown began).
    public var isStopRequested: Bool { manager.startup.isClosed }

    /// Returns once ``ShardManager/stop()`` was called, or on cancellation.
    public func waitForStopRequest() async { await manager.startup.waitUntilClosed() }

    /// Starts shard `id` of ``shardCount``, configured like every shard of the manager (its
    /// ``ShardManager/Configuration/perShard`` applies), its dispatches delivered into
    /// ``ShardManager/events``.
    ///
    /// - Parameters:
    ///   - id: the shard id, in `0..<shardCount`; not one already running.
    ///   - sessionStore: where this shard loads and saves its session (a cluster's fenced store).
    ///   - identifyQueue: grants its IDENTIFYs.
    ///   - onEnd: called once the shard's ``Shard/run()`` has returned (its session saved), with
    ///     its error if it failed; the shard is no longer in ``ShardManager/shards`` by then. A
    ///     fatal error then ends the manager, as in a manager without ownership.
    /// - Returns: the shard, or nil when `id` is out of range, already running, or the ownership's
    ///   ``ShardOwnership/run(_:)`` has returned (then `onEnd` is not called).
    @discardableResult
    public func start(
        _ id: Int, sessionStore: any SessionStore, identifyQueue: any IdentifyQueue,
        onEnd: @escaping @Sendable ((any Error)?) async -> Void
    ) -> Shard? {
        manager.startOwned(id, sessionStore: sessionStore, identifyQueue: identifyQueue, onEnd: onEnd, in: self)
    }
}

/// A shard started by a ``ShardOwnership``, for the manager's task group.
struct OwnedStart: Sendable {
    let shard: Shard
    let onEnd: @Sendable ((any Error)?) async -> Void
    /// A presence sent to every shard while this one was being made.
    let presence: PresenceUpdate?
}

extension ShardManager {
    /// Runs the shards `ownership` starts, until it returns and they have ended.
    func runOwned(by ownership: any ShardOwnership, gateway: GatewayBotInfo, count: Int) async throws {
        let (starts, continuation) = AsyncStream.makeStream(of: OwnedStart.self)
        let shards = OwnedShards(gateway: gateway, shardCount: count, manager: self, starts: continuation)
        state.withLockedValue { state in
            state.shardIDs = []
            state.shardCount = count
            state.ownedStarts = continuation
        }
        logger.info("running the shards a shard ownership grants", metadata: [
            "count": "\(count)", "max_concurrency": "\(gateway.sessionStartLimit.maxConcurrency)",
            "url": "\(gateway.url.escapedForLog())",
        ])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                defer {
                    // No start after this: the loop below ends once the started shards are queued.
                    self.state.withLockedValue { $0.ownedStarts = nil }
                    continuation.finish()
                }
                try await ownership.run(shards)
            }
            for await start in starts {
                if let presence = start.presence {  // sent to every shard while this one was being made
                    group.addTask { try? await start.shard.send(.updatePresence(presence)) }
                }
                group.addTask { try await self.runOwned(start) }
            }
            // The ownership returned: stop what it left running (the tasks above end with them).
            state.withLockedValue { Array($0.shards.values) }.forEach { $0.stop(keepSession: true) }
        }
    }

    /// Makes and registers shard `id` for the ownership's ``OwnedShards/start(_:sessionStore:identifyQueue:onEnd:)``.
    func startOwned(
        _ id: Int, sessionStore: any SessionStore, identifyQueue: any IdentifyQueue,
        onEnd: @escaping @Sendable ((any Error)?) async -> Void, in owned: OwnedShards
    ) -> Shard? {
        guard (0..<owned.shardCount).contains(id) else { return nil }
        let presence = state.withLockedValue { $0.presence }
        let shard = makeShard(
            id: id, count: owned.shardCount, url: owned.gateway.url, queue: identifyQueue, presence: presence,
            sessionStore: sessionStore)
        let registered = state.withLockedValue { state -> (stop: Bool?, Void)? in
            guard let starts = state.ownedStarts, state.shards[id] == nil else { return nil }
            let start = OwnedStart(shard: shard, onEnd: onEnd, presence: state.presence != presence ? state.presence : nil)
            guard case .enqueued = starts.yield(start) else { return nil }
            state.shards[id] = shard
            state.shardIDs = state.shards.keys.sorted()
            return (state.stopRequested, ())
        }
        guard let registered else { return nil }
        if let keep = registered.stop { shard.stop(keepSession: keep) }
        return shard
    }

    /// Runs one owned shard; unregisters it when it ends, then tells the ownership.
    private func runOwned(_ start: OwnedStart) async throws {
        var failure: (any Error)?
        do {
            try await start.shard.run()
        } catch {
            failure = error
            logger.error("a shard stopped with an error", metadata: [
                "shard": "\(start.shard.configuration.shardID)", "error": "\(error)",
            ])
        }
        let id = start.shard.configuration.shardID
        state.withLockedValue { state in
            guard state.shards[id] === start.shard else { return }
            state.shards[id] = nil
            state.shardIDs = state.shards.keys.sorted()
        }
        await start.onEnd(failure)
        if let failure { throw failure }
    }
}
