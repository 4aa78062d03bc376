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
