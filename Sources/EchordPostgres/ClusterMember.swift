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
    /// What a member runs.
    public struct Configuration: Sendable {
        /// The bot token.
        public var token: BotToken
        /// The gateway intents.
        public var intents: GatewayIntents
        /// The bot's shard count (the same in every member).
        public var shardCount: Int
        /// The HTTP API base for `GET /gateway/bot`.
        public var apiBaseURL: String = "https://discord.com/api/v10"
        /// Transport compression of the shards.
        public var compression: GatewayCompression = .preferred
        /// How long a lease lasts unless renewed (renewed every third of it). Default 10 s.
        public var leaseTTL: Duration = .seconds(10)
        /// How long an identify bucket stays busy after an IDENTIFY was written.
        public var identifyInterval: Duration = .milliseconds(5500)
        /// This member's id (default: host name, process id and a random suffix).
        public var memberID: String = ClusterMember.defaultMemberID()
        /// Certificate authorities trusted besides the system's, for discovery and the shards.
        public var additionalTrustRoots: [TLSTrustRoot] = []
        /// How often a shard checkpoints its sequence while events flow (its
        /// `ShardConfiguration.sessionSaveInterval`): after a crash, at most about this much is
        /// delivered again.
        public var checkpointInterval: Duration = .seconds(5)
        /// What a shard's checkpoint records: the last dispatch delivered (the default), or the
        /// last one the bot acknowledged with ``ClusterMember/acknowledge(_:)``.
        public var checkpoints: CheckpointMode = .delivered
        /// Adjusts each shard's configuration.
        public var perShard: (@Sendable (inout ShardConfiguration) -> Void)? = nil

        /// A configuration with the defaults above.
        public init(token: BotToken, intents: GatewayIntents, shardCount: Int) {
            self.token = token
            self.intents = intents
            self.shardCount = shardCount
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
    /// Every dispatch of the shards this member runs, tagged by `shardID`; ends when ``run()``
    /// returns. Shards come and go with their leases.
    ///
    /// Not yet bounded: each shard's buffer is, but this merged stream grows while its consumer
    /// falls behind. Consume it promptly.
    public let events: AsyncStream<GatewayDispatch>
    let eventsContinuation: AsyncStream<GatewayDispatch>.Continuation
    let cluster: PostgresCluster
    let table: LeaseTable
    let logger: Logger
    let state = NIOLockedValueBox(State())

    struct Held {
        var lease: ShardLease
        var shard: Shard
        /// When the shard must stop unless the lease was renewed (local monotonic time).
        var deadline: ContinuousClock.Instant
        /// Stopping for a handover: release the lease once the shard has saved its session.
        var handingOver = false
        /// Stopped because the lease could not be renewed in time: do not release.
        var fenced = false
    }

    /// The acknowledged position of one shard: its session and the last sequence handled.
    struct Acknowledged: Equatable {
        var sessionID: String
        var sequence: Int
    }

    struct State {
        var held: [Int: Held] = [:]
        /// With ``CheckpointMode/acknowledged``: per shard, how far the bot has acknowledged.
        var acknowledged: [Int: Acknowledged] = [:]
        var stopRequested = false
        var failovers = 0
    }

    /// A member of `cluster` (whose ``PostgresCluster/run()`` must be running).
    public init(cluster: PostgresCluster, configuration: Configuration, logger: Logger = Logger(label: "echord.cluster")) {
        self.cluster = cluster
        self.configuration = configuration
        self.table = LeaseTable(cluster: cluster)
        self.logger = logger
        (events, eventsContinuation) = AsyncStream.makeStream(of: GatewayDispatch.self, bufferingPolicy: .unbounded)
    }

    /// The shard ids this member runs now, sorted.
    public var heldShards: [Int] { state.withLockedValue { $0.held.keys.sorted() } }
    /// The shards this member runs now.
    public var shards: [Int: Shard] { state.withLockedValue { $0.held.mapValues(\.shard) } }

    /// Leaves the cluster gracefully: every shard closes with 4000 and saves its sequence, then its
    /// lease is released for the others; ``run()`` returns after.
    public func stop() {
        state.withLockedValue { $0.stopRequested = true }
        cluster.notifications.post(cluster.topic("leases"))
    }

    /// Records that the bot has handled `dispatch` (with ``CheckpointMode/acknowledged``): the
    /// shard's next checkpoint may move up to it. Call it in delivery order per shard; a READY
    /// starts the count again for its new session.
    public func acknowledge(_ dispatch: GatewayDispatch) {
        guard let sequence = dispatch.sequence else { return }
        if dispatch.name == "READY" {
            guard case .ready(let ready) = dispatch.event else { return }
            state.withLockedValue { $0.acknowledged[dispatch.shardID] = Acknowledged(sessionID: ready.sessionID, sequence: sequence) }
            return
        }
        state.withLockedValue { state in
            guard var position = state.acknowledged[dispatch.shardID] else { return }
            position.sequence = max(position.sequence, sequence)
            state.acknowledged[dispatch.shardID] = position
        }
    }

    /// The session to store for `shardID`: as the shard reports it, or, with acknowledged
    /// checkpoints, with the sequence cut back to what the bot acknowledged in that session (0 when
    /// it has acknowledged nothing of it yet: a resume then replays the whole session).
    func checkpoint(_ session: GatewaySession?, shardID: Int) -> GatewaySession? {
        guard configuration.checkpoints == .acknowledged, var session else { return session }
        let position = state.withLockedValue { $0.acknowledged[shardID] }
        session.sequence = position?.sessionID == session.sessionID ? min(session.sequence, position?.sequence ?? 0) : 0
        return session
    }

    /// A stored session read by a new holder: with acknowledged checkpoints, it is acknowledged up
    /// to its stored sequence.
    func resumed(_ session: GatewaySession?, shardID: Int) {
        guard configuration.checkpoints == .acknowledged, let session else { return }
        state.withLockedValue { $0.acknowledged[shardID] = Acknowledged(sessionID: session.sessionID, sequence: session.sequence) }
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
