import EchordGateway
import Foundation
import Logging
import NIOConcurrencyHelpers

/// A ``ClusterMember``'s leases: the `ShardOwnership` of its manager. It joins the cluster, wins
/// its share of the leases and starts their shards in the manager, renews them, stops a shard
/// whose lease could not be renewed in time (self-fencing), hands shards over on a rebalance or a
/// graceful stop, and leaves.
final class LeaseKeeper: ShardOwnership {
    let configuration: ClusterMember.Configuration
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
        /// With ``ClusterMember/CheckpointMode/acknowledged``: per shard, how far the bot has acknowledged.
        var acknowledged: [Int: Acknowledged] = [:]
    }

    init(cluster: PostgresCluster, configuration: ClusterMember.Configuration, logger: Logger) {
        self.cluster = cluster
        self.configuration = configuration
        self.table = LeaseTable(cluster: cluster)
        self.logger = logger
    }

    /// Joins the cluster and keeps this member's share of the leases until the manager is asked
    /// to stop; then hands every shard over and leaves. Cancellation ends it without a goodbye.
    func run(_ shards: OwnedShards) async throws {
        let gateway = shards.gateway
        let queue = cluster.identifyQueue(
            maxConcurrency: gateway.sessionStartLimit.maxConcurrency, interval: configuration.identifyInterval)
        try await queue.recordSessionStartLimit(
            total: gateway.sessionStartLimit.total, remaining: gateway.sessionStartLimit.remaining,
            resetAfter: gateway.sessionStartLimit.resetAfter)
        logger.info("joining the cluster", metadata: [
            "member": "\(configuration.memberID)", "shards": "\(configuration.shardCount)",
            "lease_ttl": "\(configuration.leaseTTL)",
        ])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.watchdog() }
            group.addTask {
                // A stop wakes the lease loop at once.
                await shards.waitForStopRequest()
                self.cluster.notifications.post(self.cluster.topic("leases"))
            }
            try await self.leaseLoop(shards, queue: queue)
            group.cancelAll()
        }
    }

    /// Records that the bot has handled `dispatch` (see ``ClusterMember/acknowledge(_:)``).
    func acknowledge(_ dispatch: GatewayDispatch) {
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

    /// A save of shard `shardID` was not confirmed (it failed, or the database did not answer in
    /// time and the write may still land): a shard being handed over then leaves its lease to
    /// expire instead of releasing it, so that the next holder reads the session only after the
    /// write had a lease's time to land, and resumes instead of identifying.
    func saveUnconfirmed(shardID: Int) {
        state.withLockedValue { state in
            if state.held[shardID]?.handingOver == true { state.held[shardID]?.fenced = true }
        }
    }

    /// A stored session read by a new holder: with acknowledged checkpoints, it is acknowledged up
    /// to its stored sequence.
    func resumed(_ session: GatewaySession?, shardID: Int) {
        guard configuration.checkpoints == .acknowledged, let session else { return }
        state.withLockedValue { $0.acknowledged[shardID] = Acknowledged(sessionID: session.sessionID, sequence: session.sequence) }
    }

    /// Stops the shards whose lease may have ended (no renewal in time), a quarter TTL early.
    private func watchdog() async {
        let step = configuration.leaseTTL / 10
        while !Task.isCancelled {
            let now = ContinuousClock.now
            let expired = state.withLockedValue { state -> [Shard] in
                var expired: [Shard] = []
                for (id, held) in state.held where !held.fenced && held.deadline <= now {
                    state.held[id]?.fenced = true
                    expired.append(held.shard)
                }
                return expired
            }
            for shard in expired {
                logger.warning("lease not renewed in time; stopping the shard before the lease ends", metadata: [
                    "shard": "\(shard.configuration.shardID)",
                ])
                shard.stop(keepSession: true)
            }
            try? await Task.sleep(for: step)
        }
    }

    private func leaseLoop(_ shards: OwnedShards, queue: PostgresIdentifyQueue) async throws {
        let ttl = configuration.leaseTTL
        let me = configuration.memberID
        // Join, then wait a third of the TTL before taking leases, so that members started together
        // see each other and do not take every shard only to hand most of them over.
        _ = try? await bounded("heartbeat") { [table] in try await table.heartbeat(member: me, ttl: ttl) }
        await cluster.notifications.wait(for: "join", atMost: ttl / 3)
        while !Task.isCancelled {
            if shards.isStopRequested {
                try await leave()
                return
            }
            let tickStart = ContinuousClock.now
            do {
                let members = try await bounded("heartbeat") { [table] in try await table.heartbeat(member: me, ttl: ttl) }
                let desired = Set(ClusterMember.assignment(shardCount: configuration.shardCount, members: members)[me] ?? [])
                // Renew what we hold (also what we are handing over: until its shard has saved).
                let leases = state.withLockedValue { $0.held.values.filter { !$0.fenced }.map(\.lease) }
                let renewStart = ContinuousClock.now
                let renewed = try await bounded("renew leases") { [table] in try await table.renew(member: me, leases: leases, ttl: ttl) }
                ClusterMetrics.record(ClusterMetrics.renewLatency, since: renewStart)
                let deadline = tickStart + ttl - ttl / 4
                let (lost, moving) = state.withLockedValue { state -> ([Shard], [Shard]) in
                    var lost: [Shard] = []
                    var moving: [Shard] = []
                    for (id, held) in state.held where !held.fenced {
                        if renewed.contains(held.lease) {
                            state.held[id]?.deadline = deadline
                            if !desired.contains(id) && !held.handingOver {
                                state.held[id]?.handingOver = true
                                moving.append(held.shard)
                            }
                        } else {
                            state.held[id]?.fenced = true
                            lost.append(held.shard)
                        }
                    }
                    return (lost, moving)
                }
                for shard in lost {
                    logger.warning("lease lost; stopping the shard", metadata: ["shard": "\(shard.configuration.shardID)"])
                    shard.stop(keepSession: true)
                }
                for shard in moving {
                    ClusterMetrics.handovers.increment()
                    logger.info("handing the shard over", metadata: ["shard": "\(shard.configuration.shardID)"])
                    shard.stop(keepSession: true)
                }
                let held = Set(state.withLockedValue { $0.held.keys })
                for id in desired.subtracting(held).sorted() where !shards.isStopRequested {
                    let count = configuration.shardCount
                    guard let lease = try await bounded("acquire a lease", { [table] in
                        try await table.acquire(member: me, shardID: id, shardCount: count, ttl: ttl)
                    }) else { continue }
                    await start(lease, deadline: deadline, in: shards, queue: queue)
                }
            } catch let error as PostgresClusterError {
                logger.warning("cluster tick failed; retrying", metadata: ["reason": "\(error)"])
            }
            await cluster.notifications.wait(for: cluster.topic("leases"), atMost: ttl / 3)
        }
    }

    /// Starts shard `lease.shardID` in the manager with a fenced session store; it resumes the
    /// stored session if there is one. When it ends while its lease is still good (a handover),
    /// the lease is released.
    private func start(_ lease: ShardLease, deadline: ContinuousClock.Instant, in shards: OwnedShards, queue: PostgresIdentifyQueue) async {
        // The stored session, read here with a time limit: a read that never answered would keep
        // the shard from starting while its lease is renewed. Unread, the lease goes back.
        let stored: GatewaySession?
        do {
            let count = configuration.shardCount
            stored = try await bounded("read the session of shard \(lease.shardID)") { [table] in
                try await PostgresSessionStore(cluster: table.cluster).session(shardID: lease.shardID, shardCount: count)
            }
        } catch {
            logger.warning("could not read the shard's session; giving the lease back", metadata: [
                "shard": "\(lease.shardID)", "reason": "\(error)",
            ])
            try? await release(lease)
            return
        }
        let store = FencedSessionStore(table: table, lease: lease, owner: self, stored: stored)
        // The shard may end before it is recorded below: whichever of the two comes first (under
        // the state lock) sets this, so the end of a shard never recorded leaves nothing behind.
        let settled = NIOLockedValueBox(false)
        let shard = shards.start(lease.shardID, sessionStore: store, identifyQueue: queue) { [self] _ in
            await ended(lease, settled: settled)
        }
        guard let shard else {
            // Not started (the manager is stopping): give the lease back at once.
            try? await release(lease)
            return
        }
        let (count, endedEarly) = state.withLockedValue { state -> (Int, Bool) in
            let endedEarly = settled.withLockedValue { settled in
                defer { settled = true }
                return settled
            }
            if !endedEarly { state.held[lease.shardID] = Held(lease: lease, shard: shard, deadline: deadline) }
            return (state.held.count, endedEarly)
        }
        if endedEarly { return }
        ClusterMetrics.shardsHeld.record(count)
        logger.info("lease acquired; starting the shard", metadata: ["shard": "\(lease.shardID)", "epoch": "\(lease.epoch)"])
    }

    /// A shard of `lease` ended: forget it, and release the lease unless it was fenced (then it
    /// may already belong to another member, or will once it ends on the database).
    private func ended(_ lease: ShardLease, settled: NIOLockedValueBox<Bool>) async {
        let (release, count) = state.withLockedValue { state -> (Bool, Int) in
            // Ended before start(_:) recorded it (at once): nothing to forget; release.
            let wasRecorded = settled.withLockedValue { settled in
                defer { settled = true }
                return settled
            }
            guard wasRecorded else { return (true, state.held.count) }
            guard let held = state.held[lease.shardID], held.lease == lease else { return (false, state.held.count) }
            state.held[lease.shardID] = nil
            return (!held.fenced, state.held.count)
        }
        ClusterMetrics.shardsHeld.record(count)
        // A shard that stopped while its lease was still good saved its session: hand over now.
        if release && !Task.isCancelled {
            try? await self.release(lease)
        }
    }

    /// Gives `lease` up (bounded, like every database call of the member).
    private func release(_ lease: ShardLease) async throws {
        let me = configuration.memberID
        try await bounded("release a lease") { [table] in try await table.release(member: me, lease: lease) }
    }

    /// A database call of the member, given at most one lease TTL: a call that never answers (see
    /// ``PostgresCluster/withTimeLimit(_:_:_:)``) must not hold the lease loop, a stop or a handover
    /// for good; the next tick tries again. (Generous, so that a loaded machine's slow answers
    /// are waited for: meanwhile the watchdog still stops shards whose leases were not renewed.)
    private func bounded<T: Sendable>(_ operation: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await cluster.withTimeLimit(configuration.leaseTTL, operation, body)
    }

    /// Graceful leave: every shard closes with 4000 and saves; each lease is released as its shard
    /// ends; then the member row goes.
    private func leave() async throws {
        let shards = state.withLockedValue { state -> [Shard] in
            for id in state.held.keys { state.held[id]?.handingOver = true }
            return state.held.values.map(\.shard)
        }
        for shard in shards { shard.stop(keepSession: true) }
        while !state.withLockedValue({ $0.held.isEmpty }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let me = configuration.memberID
        try? await bounded("leave the cluster") { [table] in try await table.leave(member: me) }
        logger.info("left the cluster", metadata: ["member": "\(configuration.memberID)"])
    }
}
