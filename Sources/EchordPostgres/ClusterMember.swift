import EchordGateway
import EchordModels
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// One process of a bot in cluster mode: it joins the bot's members (a row with a heartbeat),
/// takes the leases of its share of the shards, runs those shards, and gives them up or takes more
/// as members join and leave.
///
/// Its shards run in a `ShardManager` in cluster mode (``manager``): the member is the manager's
/// `ShardOwnership`, so one bounded merged stream (``events``), the manager's `statuses`, `health`
/// and `send(_:)` follow the shards as leases are won and lost.
///
/// - **Balance**: every member computes the same assignment from the live members
///   (``assignment(shardCount:members:)``: rendezvous hashing with a capacity of
///   ⌈count / members⌉), so each holds about count / members shards and a join or leave moves few.
/// - **Fencing**: each lease has an epoch, raised whenever its holder changes; every session write
///   of a shard carries its lease's epoch and is refused once the lease is lost.
/// - **Self-fencing**: a member that could not renew a lease stops the shard (close 4000) a quarter
///   of the TTL before the lease ends on the database, measured from when it sent its last
///   successful renewal, so two processes never run one shard (clocks may be offset, not skewed
///   in rate).
/// - **Failover**: a member that dies without a goodbye keeps its leases until they end; then the
///   others take them and RESUME from the stored sessions (no IDENTIFY). A graceful ``stop()`` or a
///   rebalance closes each moved shard with 4000, saves its exact sequence, then releases the lease.
public final class ClusterMember: Service, Sendable {
    /// What a member runs: a `ShardConfiguration` template every shard starts from, and what the
    /// cluster decides (shard count, leases, identify interval, checkpoints).
    public struct Configuration: Sendable {
        /// The template every shard starts from (the manager's `ShardManager.Configuration.shard`):
        /// token, intents, compression, trust roots (also for discovery), timeouts and event
        /// subscription. Its `sessionSaveInterval` is the checkpoint interval: how often a shard
        /// checkpoints its sequence while events flow (5 s by default; after a crash, at most about
        /// this much is delivered again). Its `eventBufferCapacity` bounds ``ClusterMember/events``.
        public var shard: ShardConfiguration
        /// The bot's shard count (the same in every member).
        public var shardCount: Int
        /// The HTTP API base for `GET /gateway/bot`.
        public var apiBaseURL: String = "https://discord.com/api/v10"
        /// How long a lease lasts unless renewed (renewed every third of it). Default 10 s.
        public var leaseTTL: Duration = .seconds(10)
        /// How long an identify bucket stays busy after an IDENTIFY was written.
        public var identifyInterval: Duration = .milliseconds(5500)
        /// This member's id (default: host name, process id and a random suffix).
        public var memberID: String = ClusterMember.defaultMemberID()
        /// What a shard's checkpoint records: the last dispatch delivered (the default), or the
        /// last one the bot acknowledged with ``ClusterMember/acknowledge(_:)``.
        public var checkpoints: CheckpointMode = .delivered
        /// Adjusts each shard's configuration, made from ``shard``, before it starts.
        public var perShard: (@Sendable (inout ShardConfiguration) -> Void)? = nil

        /// A configuration whose shards start from `shard`, with the defaults above.
        public init(shard: ShardConfiguration, shardCount: Int) {
            self.shard = shard
            self.shardCount = shardCount
        }

        /// A configuration whose shards start from `ShardConfiguration(token:intents:)`, with the
        /// defaults above.
        public init(token: BotToken, intents: GatewayIntents, shardCount: Int) {
            self.init(shard: ShardConfiguration(token: token, intents: intents), shardCount: shardCount)
        }
    }

    /// What a shard's stored sequence (its checkpoint) stands for.
    public enum CheckpointMode: Sendable, Equatable {
        /// The last dispatch delivered to ``ClusterMember/events``: after a crash, what was
        /// delivered after the last checkpoint is delivered again.
        case delivered
        /// The last dispatch the bot acknowledged (after handling it): after a crash or a
        /// handover, everything not acknowledged is delivered again. Acknowledge each shard's
        /// dispatches in the order they were delivered.
        case acknowledged
    }

    /// The configuration.
    public let configuration: Configuration
    /// The ShardManager that runs this member's shards, in cluster mode: its ``events``,
    /// `statuses`, `health` and `send(_:)` cover the shards this member holds now.
    public let manager: ShardManager
    /// Wins, renews, fences and hands over the leases; the manager's shard ownership.
    let keeper: LeaseKeeper

    /// Every dispatch of the shards this member runs, tagged by `shardID`, in order within a
    /// shard (the manager's `events`); ends when ``run()`` returns. Shards come and
    /// go with their leases.
    ///
    /// Bounded (the template's `eventBufferCapacity`, default 4,096): when it is
    /// full the shards stop reading their sockets until the consumer takes a dispatch, and one
    /// whose heartbeat ACK cannot be read in time reconnects and RESUMEs; nothing is dropped.
    /// Iterate it from one task.
    public var events: ShardEvents { manager.events }

    /// A member of `cluster` (whose ``PostgresCluster/run()`` must be running).
    public init(cluster: PostgresCluster, configuration: Configuration, logger: Logger = Logger(label: "echord.cluster")) {
        self.configuration = configuration
        let keeper = LeaseKeeper(cluster: cluster, configuration: configuration, logger: logger)
        self.keeper = keeper
        var managerConfiguration = ShardManager.Configuration(shard: configuration.shard)
        managerConfiguration.shardCount = .exactly(configuration.shardCount)
        managerConfiguration.apiBaseURL = configuration.apiBaseURL
        managerConfiguration.keepSessionsOnShutdown = true
        managerConfiguration.perShard = configuration.perShard
        self.manager = ShardManager(configuration: managerConfiguration, ownership: keeper, logger: logger)
    }

    /// The shard ids this member runs now (their leases held), sorted.
    public var heldShards: [Int] { keeper.state.withLockedValue { $0.held.keys.sorted() } }
    /// The shards this member runs now.
    public var shards: [Int: Shard] { keeper.state.withLockedValue { $0.held.mapValues(\.shard) } }
    /// The status of every shard this member runs now (the manager's `statuses`).
    public var statuses: [Int: ShardStatus] { manager.statuses }
    /// Whether every shard this member runs is ready (false while it holds none), and which are
    /// not (the manager's `health`).
    public var health: (allReady: Bool, lagging: [Int: ShardStatus]) { manager.health }

    /// Discovers the gateway, joins the cluster and runs this member's share of the shards until
    /// ``stop()`` (or graceful shutdown), then hands every shard over and leaves. Cancellation ends
    /// it without a goodbye: shards close with a resumable code, leases are left to expire. A
    /// shard's fatal error (an invalid token, say) ends it with that error.
    public func run() async throws {
        try await manager.run()
    }

    /// Leaves the cluster gracefully: every shard closes with 4000 and saves its sequence, then its
    /// lease is released for the others; ``run()`` returns after.
    public func stop() {
        manager.stop()
    }

    /// Records that the bot has handled `dispatch` (with ``CheckpointMode/acknowledged``): the
    /// shard's next checkpoint may move up to it. Call it in delivery order per shard; a READY
    /// starts the count again for its new session.
    public func acknowledge(_ dispatch: GatewayDispatch) {
        keeper.acknowledge(dispatch)
    }

    /// `host-pid-random`.
    public static func defaultMemberID() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The shards each member should hold: for each shard in id order, the member ranked highest by
    /// a hash of (member, shard) that is not yet full, with ⌈count / members⌉ as the capacity.
    /// Every member computes the same answer from the same member list.
    public static func assignment(shardCount: Int, members: [String]) -> [String: [Int]] {
        guard !members.isEmpty, shardCount > 0 else { return [:] }
        let capacity = (shardCount + members.count - 1) / members.count
        var load: [String: [Int]] = [:]
        for shard in 0..<shardCount {
            let ranked = members.sorted { Self.score($0, shard) > Self.score($1, shard) || (Self.score($0, shard) == Self.score($1, shard) && $0 < $1) }
            if let owner = ranked.first(where: { load[$0, default: []].count < capacity }) { load[owner, default: []].append(shard) }
        }
        return load
    }

    /// FNV-1a of `member/shard` (stable across processes, unlike `Hasher`), mixed.
    static func score(_ member: String, _ shard: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(member)/\(shard)".utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }
}
