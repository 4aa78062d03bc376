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
