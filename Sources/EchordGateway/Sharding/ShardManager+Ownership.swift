import EchordModels

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
