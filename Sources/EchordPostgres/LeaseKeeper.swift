import EchordGateway
import Foundation
import Logging
import ServiceLifecycle

extension ClusterMember {
    /// Discovers the gateway, joins the cluster and runs this member's share of the shards until
    /// ``stop()`` (or graceful shutdown), then hands every shard over and leaves. Cancellation ends
    /// it without a goodbye: shards close with a resumable code, leases are left to expire.
    public func run() async throws {
        defer { eventsContinuation.finish() }
        let discovery = GatewayDiscovery(
            apiBaseURL: configuration.apiBaseURL, token: configuration.token,
            additionalTrustRoots: configuration.additionalTrustRoots, logger: logger)
        let info = try await discovery.gatewayBot()
        let queue = cluster.identifyQueue(
            maxConcurrency: info.sessionStartLimit.maxConcurrency, interval: configuration.identifyInterval)
        try await queue.recordSessionStartLimit(
            total: info.sessionStartLimit.total, remaining: info.sessionStartLimit.remaining,
            resetAfter: info.sessionStartLimit.resetAfter)
        logger.info("joining the cluster", metadata: [
            "member": "\(configuration.memberID)", "shards": "\(configuration.shardCount)",
            "lease_ttl": "\(configuration.leaseTTL)",
        ])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { await self.watchdog() }
                try await self.leaseLoop(group: &group, gatewayURL: info.url, queue: queue)
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
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

    private func leaseLoop(
        group: inout ThrowingDiscardingTaskGroup<any Error>, gatewayURL: String, queue: PostgresIdentifyQueue
    ) async throws {
        let ttl = configuration.leaseTTL
        let me = configuration.memberID
        // Join, then wait a third of the TTL before taking leases, so that members started together
        // see each other and do not take every shard only to hand most of them over.
        _ = try? await table.heartbeat(member: me, ttl: ttl)
        await cluster.notifications.wait(for: "join", atMost: ttl / 3)
        while !Task.isCancelled {
            if state.withLockedValue({ $0.stopRequested }) {
                try await leave(group: &group)
                return
            }
            let tickStart = ContinuousClock.now
            do {
                let members = try await table.heartbeat(member: me, ttl: ttl)
                let desired = Set(Self.assignment(shardCount: configuration.shardCount, members: members)[me] ?? [])
                // Renew what we hold (also what we are handing over: until its shard has saved).
                let leases = state.withLockedValue { $0.held.values.filter { !$0.fenced }.map(\.lease) }
                let renewStart = ContinuousClock.now
                let renewed = try await table.renew(member: me, leases: leases, ttl: ttl)
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
                for id in desired.subtracting(held).sorted() {
                    guard let lease = try await table.acquire(member: me, shardID: id, shardCount: configuration.shardCount, ttl: ttl)
                    else { continue }
                    start(lease, deadline: tickStart + ttl - ttl / 4, gatewayURL: gatewayURL, queue: queue, group: &group)
                }
            } catch let error as PostgresClusterError {
                logger.warning("cluster tick failed; retrying", metadata: ["reason": "\(error)"])
            }
            await cluster.notifications.wait(for: cluster.topic("leases"), atMost: ttl / 3)
        }
    }

    /// Starts shard `lease.shardID` with a fenced session store; it resumes the stored session if
    /// there is one. When it ends for a handover, its lease is released.
    private func start(
        _ lease: ShardLease, deadline: ContinuousClock.Instant, gatewayURL: String, queue: PostgresIdentifyQueue,
        group: inout ThrowingDiscardingTaskGroup<any Error>
    ) {
        var shardConfiguration = ShardConfiguration(token: configuration.token, intents: configuration.intents)
        shardConfiguration.shardID = lease.shardID
        shardConfiguration.shardCount = configuration.shardCount
        shardConfiguration.gatewayURL = gatewayURL
        shardConfiguration.compression = configuration.compression
        shardConfiguration.additionalTrustRoots = configuration.additionalTrustRoots
        shardConfiguration.sessionSaveInterval = configuration.checkpointInterval
        configuration.perShard?(&shardConfiguration)
        let store = FencedSessionStore(table: table, lease: lease, owner: self)
        let shard = Shard(configuration: shardConfiguration, sessionStore: store, identifyQueue: queue, logger: logger)
        let count = state.withLockedValue { state -> Int in
            state.held[lease.shardID] = Held(lease: lease, shard: shard, deadline: deadline)
            return state.held.count
        }
        ClusterMetrics.shardsHeld.record(count)
        logger.info("lease acquired; starting the shard", metadata: ["shard": "\(lease.shardID)", "epoch": "\(lease.epoch)"])
        let continuation = eventsContinuation
        group.addTask {
            async let forwarded: Void = { for await dispatch in shard.events { continuation.yield(dispatch) } }()
            do {
                try await shard.run()
            } catch {
                self.logger.warning("shard ended", metadata: ["shard": "\(lease.shardID)", "reason": "\(error)"])
            }
            await forwarded
            let (release, count) = self.state.withLockedValue { state -> (Bool, Int) in
                guard let held = state.held.removeValue(forKey: lease.shardID) else { return (false, state.held.count) }
                return (!held.fenced, state.held.count)
            }
            ClusterMetrics.shardsHeld.record(count)
            // A shard that stopped while its lease was still good saved its session: hand over now.
            if release && !Task.isCancelled {
                try? await self.table.release(member: self.configuration.memberID, lease: lease)
            }
        }
    }

    /// Graceful leave: every shard closes with 4000 and saves; each lease is released as its shard
    /// ends; then the member row goes.
    private func leave(group: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
        let shards = state.withLockedValue { state -> [Shard] in
            for id in state.held.keys { state.held[id]?.handingOver = true }
            return state.held.values.map(\.shard)
        }
        for shard in shards { shard.stop(keepSession: true) }
        while !state.withLockedValue({ $0.held.isEmpty }) {
            try await Task.sleep(for: .milliseconds(20))
        }
        try? await table.leave(member: configuration.memberID)
        logger.info("left the cluster", metadata: ["member": "\(configuration.memberID)"])
    }
}
