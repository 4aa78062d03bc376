import EchordModels
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Runs a bot's shards together: the right count, identifies that never break Discord's limits, one
/// merged event stream, commands routed to the right shard, and sessions that survive a restart.
///
/// ```swift
/// let manager = ShardManager(configuration: .init(token: token, intents: [.guilds, .guildMessages]))
/// async let running: Void = manager.run()
/// for await dispatch in manager.events { print(dispatch.shardID, dispatch.name) }
/// ```
public final class ShardManager: Sendable {
    /// How many shards the bot has.
    public enum ShardCount: Sendable, Equatable {
        /// As many as `GET /gateway/bot` recommends.
        case automatic
        /// Exactly this many.
        case exactly(Int)
    }

    /// Everything the manager needs: a ``ShardConfiguration`` template that every shard starts
    /// from, and what only the manager decides (the shard count and set, discovery, shutdown).
    ///
    /// ```swift
    /// var configuration = ShardManager.Configuration(token: token, intents: [.guilds, .guildMessages])
    /// configuration.shard.compression = .zlibStream      // every shard, and the merged stream's
    /// configuration.shard.eventBufferCapacity = 16_384   // capacity, come from the template
    /// configuration.shardIDs = Array(0..<8)              // the manager's own settings
    /// ```
    public struct Configuration: Sendable {
        /// The template every shard starts from: token, intents, presence, compression, trust
        /// roots, timeouts, backoff, session save interval and event subscription. The manager
        /// sets each shard's ``ShardConfiguration/shardID``, ``ShardConfiguration/shardCount`` and
        /// ``ShardConfiguration/gatewayURL`` (from `GET /gateway/bot`) itself, then applies
        /// ``perShard``. Its ``ShardConfiguration/additionalTrustRoots`` also serve discovery
        /// (`https://`); a root that cannot be loaded makes ``ShardManager/run()`` throw
        /// ``TLSTrustRootError`` before any request. Its ``ShardConfiguration/eventBufferCapacity``
        /// is the capacity of the one merged stream, ``ShardManager/events`` (the shards deliver
        /// straight into it and have no buffer of their own).
        public var shard: ShardConfiguration
        /// The bot's shard count.
        public var shardCount: ShardCount = .automatic
        /// The shard ids this process runs (nil: all of them), so one bot can span processes.
        public var shardIDs: [Int]? = nil
        /// The REST base for `GET /gateway/bot`.
        public var apiBaseURL: String = "https://discord.com/api/v10"
        /// Adjusts one shard's configuration (intents, presence, timings), made from ``shard``,
        /// before it starts. Its event buffer capacity is not used: every shard delivers into
        /// ``ShardManager/events``.
        public var perShard: (@Sendable (inout ShardConfiguration) -> Void)? = nil
        /// Whether a graceful shutdown keeps the sessions resumable (close 4000 and save them) or
        /// ends them (close 1000).
        public var keepSessionsOnShutdown = true
        /// The largest shard count ``ShardCount/automatic`` accepts from `GET /gateway/bot`: a larger
        /// answer fails with ``ShardManagerError/shardCountAboveLimit(count:limit:)`` before any shard
        /// starts. Discord recommends about one shard per 1,000 guilds, so the default,
        /// ``ShardManager/defaultShardCountLimit`` (10,000), fits bots in up to some 10 million
        /// guilds; raise it for a larger bot. An ``ShardCount/exactly(_:)`` count is not checked.
        public var shardCountLimit = ShardManager.defaultShardCountLimit

        /// A configuration whose shards start from `shard`, with an automatic shard count and every
        /// shard in this process.
        public init(shard: ShardConfiguration) {
            self.shard = shard
        }

        /// A configuration whose shards start from `ShardConfiguration(token:intents:)` (Discord's
        /// defaults), with an automatic shard count and every shard in this process.
        public init(token: BotToken, intents: GatewayIntents) {
            self.init(shard: ShardConfiguration(token: token, intents: intents))
        }
    }

    /// The default of ``Configuration/shardCountLimit``.
    public static let defaultShardCountLimit = 10_000

    /// The configuration it runs with.
    public let configuration: Configuration
    /// Every dispatch of every shard, each tagged with its ``GatewayDispatch/shardID``; in order
    /// within a shard. Ends when the manager stops. Iterate it from one task.
    ///
    /// Bounded, with back-pressure: it holds the template's ``ShardConfiguration/eventBufferCapacity``
    /// dispatches (``Configuration/shard``);
    /// when it is full, every shard that has a dispatch to deliver stops reading its socket until
    /// the consumer takes one (heartbeats go on). A consumer so slow that a heartbeat ACK cannot be
    /// read in time makes that shard reconnect and RESUME: the gateway replays the rest, so
    /// dispatches are delayed, never dropped. With a ``ShardOwnership`` (cluster mode) the same
    /// holds for the shards as they come and go; what a shard delivered here before it stopped or
    /// was handed over stays here, in order, for the consumer.
    public let events: ShardEvents
    let buffer: EventBuffer
    let sessionStore: any SessionStore
    let clock: GatewayClock
    let logger: Logger
    let identifyQueueOverride: (any IdentifyQueue)?
    /// Cluster mode: what decides which shards run here (nil: ``Configuration/shardIDs``).
    let ownership: (any ShardOwnership)?
    /// Bounds the shards starting at once; closed by ``stop()``, which ends every start-up wait.
    let startup = StartupGate()
    let state = NIOLockedValueBox(State())

    struct State {
        /// The shards started so far.
        var shards: [Int: Shard] = [:]
        /// Every shard id of this process, once known.
        var shardIDs: [Int] = []
        var shardCount: Int?
        var stopRequested: Bool?
        var started = false
        /// The last presence sent to every shard, for the shards that start after it.
        var presence: PresenceUpdate?
        /// With a ``ShardOwnership``: where its starts go, while it runs.
        var ownedStarts: AsyncStream<OwnedStart>.Continuation?
    }

    /// - Parameters:
    ///   - configuration: the shard template (token, intents, …), the shard count and set.
    ///   - sessionStore: where sessions are kept across restarts (a `FileSessionStore` for one machine).
    ///   - identifyQueue: grants IDENTIFYs; by default a local queue sized by `max_concurrency`.
    ///   - clock: the clock shards wait on.
    ///   - logger: logs (never the token).
    public init(
        configuration: Configuration, sessionStore: any SessionStore = InMemorySessionStore(),
        identifyQueue: (any IdentifyQueue)? = nil, clock: GatewayClock = .continuous,
        logger: Logger = Logger(label: "echord.manager")
    ) {
        self.configuration = configuration
        self.buffer = EventBuffer(capacity: configuration.shard.eventBufferCapacity)
        self.events = ShardEvents(buffer: buffer)
        self.sessionStore = sessionStore
        self.identifyQueueOverride = identifyQueue
        self.ownership = nil
        self.clock = clock
        self.logger = logger
    }

    /// A manager in cluster mode: `ownership` decides which shards run here, and when (each with
    /// the session store and identify queue it gives); ``Configuration/shardIDs`` is not used.
    /// ``statuses``, ``health`` and ``shards`` cover the shards held now, and ``events`` merges
    /// them as they come and go.
    ///
    /// - Parameters:
    ///   - configuration: the shard template every shard runs with (token, intents, …) and the
    ///     shard count (every member of a cluster must use the same).
    ///   - ownership: wins and loses shards (EchordPostgres's `ClusterMember`).
    ///   - clock: the clock shards wait on.
    ///   - logger: logs (never the token).
    public init(
        configuration: Configuration, ownership: any ShardOwnership, clock: GatewayClock = .continuous,
        logger: Logger = Logger(label: "echord.manager")
    ) {
        self.configuration = configuration
        self.buffer = EventBuffer(capacity: configuration.shard.eventBufferCapacity)
        self.events = ShardEvents(buffer: buffer)
        self.sessionStore = InMemorySessionStore()
        self.identifyQueueOverride = nil
        self.ownership = ownership
        self.clock = clock
        self.logger = logger
    }

    /// The shards of this process started so far, by id (empty until ``run()`` has discovered the
    /// count; shards start a few at a time, as their identify turns come near). With a
    /// ``ShardOwnership``: the shards running now.
    public var shards: [Int: Shard] { state.withLockedValue { $0.shards } }
    /// The bot's shard count, once known.
    public var shardCount: Int? { state.withLockedValue { $0.shardCount } }

    /// The status of every shard of this process (``ShardStatus/idle`` for one not started yet);
    /// with a ``ShardOwnership``, of the shards running now.
    public var statuses: [Int: ShardStatus] {
        let (ids, shards) = state.withLockedValue { ($0.shardIDs, $0.shards) }
        return Dictionary(uniqueKeysWithValues: ids.map { ($0, shards[$0]?.status ?? .idle) })
    }

    /// Whether every shard is ready, and which are not (with their status).
    public var health: (allReady: Bool, lagging: [Int: ShardStatus]) {
        let lagging = statuses.filter { $0.value != .ready }
        return (lagging.isEmpty && !statuses.isEmpty, lagging)
    }

    /// The shard serving `guildID`: `(guild_id >> 22) % shard_count`.
    public func shardID(forGuild guildID: Snowflake) -> Int? {
        shardCount.map { guildID.shardIndex(shardCount: $0) }
    }

    /// Sends a command: to the shard of its guild, or, for presence updates, to every shard.
    ///
    /// - Throws: ``ShardManagerError/shardNotInThisProcess(_:)`` when the guild's shard runs
    ///   elsewhere, or the shard's ``GatewayCommandError``.
    public func send(_ command: GatewayCommand) async throws {
        let shards = state.withLockedValue { state -> [Int: Shard] in
            // Shards that start later identify with this presence.
            if case .updatePresence(let presence) = command { state.presence = presence }
            return state.shards
        }
        guard let guildID = command.guildID else {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for shard in shards.values { group.addTask { try await shard.send(command) } }
                try await group.waitForAll()
            }
            return
        }
        guard let id = shardID(forGuild: guildID) else { throw ShardManagerError.notStarted }
        guard let shard = state.withLockedValue({ $0.shards[id] }) else {
            let isOurs = state.withLockedValue { $0.shardIDs.contains(id) }
            throw isOurs ? ShardManagerError.shardNotStarted(id) : ShardManagerError.shardNotInThisProcess(id)
        }
        try await shard.send(command)
    }

    /// Stops every shard (see ``Configuration/keepSessionsOnShutdown``); ``run()`` returns once they
    /// have closed and saved their sessions. A stop also ends, at once, every wait of the start-up:
    /// discovery, the wait for the session start limit to reset, shards waiting to start or for their
    /// identify turn (those hold no socket). With a ``ShardOwnership``, the ownership gives its
    /// shards up itself (a cluster member hands them over).
    public func stop() {
        let shards = state.withLockedValue { state -> [Shard] in
            state.stopRequested = configuration.keepSessionsOnShutdown
            return Array(state.shards.values)
        }
        startup.close()
        guard ownership == nil else { return }
        for shard in shards { shard.stop(keepSession: configuration.keepSessionsOnShutdown) }
    }

    /// Discovers the gateway, then runs the shards until ``stop()``, a graceful shutdown of the
    /// service group it runs in, cancellation, or a fatal error of any shard (which stops the others
    /// and is rethrown).
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await runShards()
        } onGracefulShutdown: {
            self.stop()
        }
    }

    private func runShards() async throws {
        state.withLockedValue { state in
            precondition(!state.started, "ShardManager.run() was called twice")
            state.started = true
        }
        defer { buffer.finish() }
        let trustRoots = configuration.shard.additionalTrustRoots
        if !trustRoots.isEmpty { _ = try SharedTLS.context(trusting: trustRoots) }  // a bad CA file fails here, once
        let discovery = GatewayDiscovery(
            apiBaseURL: configuration.apiBaseURL, token: configuration.shard.token, clock: clock,
            additionalTrustRoots: trustRoots, logger: logger)
        guard let info = try await startup.unlessClosed({ try await discovery.gatewayBot() }) else {
            logger.info("stopped during gateway discovery")
            return
        }
        guard !info.url.hasControlOrWhitespace, GatewayURL(info.url) != nil else {
            throw ShardManagerError.invalidGatewayURL(info.url.escapedForLog(limit: 200))
        }
        let count: Int
        switch configuration.shardCount {
        case .automatic:
            guard info.shards <= configuration.shardCountLimit else {
                throw ShardManagerError.shardCountAboveLimit(count: info.shards, limit: configuration.shardCountLimit)
            }
            count = max(1, info.shards)
        case .exactly(let n): count = n
        }
        guard count >= 1 else { throw ShardManagerError.invalidShardSet(ids: configuration.shardIDs ?? [], count: count) }
        if let ownership { return try await runOwned(by: ownership, gateway: info, count: count) }
        let ids = configuration.shardIDs?.sorted() ?? Array(0..<count)
        if configuration.shardIDs != nil {
            guard !ids.isEmpty, ids.allSatisfy({ (0..<count).contains($0) }), Set(ids).count == ids.count else {
                throw ShardManagerError.invalidShardSet(ids: ids.count > 64 ? Array(ids.prefix(64)) : ids, count: count)
            }
        }
        // Shards that hold a stored session resume and need no session start.
        let resuming = await sessionStore.shardsWithSession(ids, shardCount: count)
        let needed = ids.count - resuming.count
        let limit = info.sessionStartLimit
        if needed > limit.total {
            throw ShardManagerError.sessionStartLimitTooLow(needed: needed, total: limit.total)
        }
        if needed > limit.remaining {
            logger.warning("session start limit exhausted; waiting for it to reset", metadata: [
                "needed": "\(needed)", "remaining": "\(limit.remaining)", "reset_after": "\(limit.resetAfter)",
            ])
            guard try await startup.unlessClosed({ [clock] in try await clock.sleep(for: limit.resetAfter) }) != nil else {
                logger.info("stopped while waiting for the session start limit to reset")
                return
            }
        }
        let queue = identifyQueueOverride ?? LocalIdentifyQueue(maxConcurrency: limit.maxConcurrency, clock: clock)
        let window = Self.startWindow(maxConcurrency: limit.maxConcurrency)
        logger.info("starting shards", metadata: [
            "count": "\(count)", "ids": "\(ids.count)", "resuming": "\(resuming.count)",
            "max_concurrency": "\(limit.maxConcurrency)", "url": "\(info.url.escapedForLog())", "start_window": "\(window)",
        ])
        state.withLockedValue { state in
            state.shardIDs = ids
            state.shardCount = count
        }
        startup.setSize(window)
        // Resuming shards first (they need no identify turn), then the others in id order, so each
        // bucket's queue is served in order.
        let order = resuming.isEmpty ? ids : resuming.sorted() + ids.filter { !resuming.contains($0) }
        // A discarding group: a shard's task that ends is freed at once, never kept for a `next()`.
        try await withThrowingDiscardingTaskGroup { group in
            for id in order {
                let identifies = !resuming.contains(id)
                // A shard that must IDENTIFY starts only when the start window has room: a bot with
                // thousands of shards holds a few queued shards at a time, not thousands.
                if identifies ? !(await startup.enter()) : startup.isClosed { break }
                // Made and registered under one lock: a presence sent meanwhile is either in this
                // shard's IDENTIFY or sent to it by `send`, never lost between the two.
                let (shard, stopRequested) = state.withLockedValue { state in
                    let shard = makeShard(
                        id: id, count: count, url: info.url, queue: queue, presence: state.presence, sessionStore: sessionStore)
                    state.shards[id] = shard
                    return (shard, state.stopRequested)
                }
                if let keep = stopRequested { shard.stop(keepSession: keep) }
                group.addTask {
                    do {
                        try await self.run(shard, holdingStartSlot: identifies)
                    } catch {
                        self.shardFailed(error)
                        throw error
                    }
                }
            }
        }
    }

    /// A shard stopped with an error: no further shard starts and the others stop. Synchronous,
    /// so the async frame of each shard's task (kept while the shard runs) holds none of this.
    private func shardFailed(_ error: any Error) {
        logger.error("a shard stopped with an error; stopping the others", metadata: ["error": "\(error)"])
        startup.close()
        state.withLockedValue { Array($0.shards.values) }.forEach { $0.stop(keepSession: true) }
    }

    /// How many shards that must IDENTIFY may be starting at once: two per identify bucket, so each
    /// bucket has its next shard queued while one identifies.
    static func startWindow(maxConcurrency: Int) -> Int { 2 * max(1, maxConcurrency) }

    func makeShard(
        id: Int, count: Int, url: String, queue: any IdentifyQueue, presence: PresenceUpdate?,
        sessionStore: any SessionStore
    ) -> Shard {
        var shardConfiguration = configuration.shard
        shardConfiguration.shardID = id
        shardConfiguration.shardCount = count
        shardConfiguration.gatewayURL = url
        if let presence { shardConfiguration.presence = presence }  // the last one sent to every shard
        configuration.perShard?(&shardConfiguration)
        // Every shard delivers straight into the merged buffer: no forwarding task, no second copy.
        return Shard(
            configuration: shardConfiguration, sessionStore: sessionStore, identifyQueue: queue, clock: clock,
            logger: logger, seed: .random(in: .min ... .max), sharedBuffer: buffer)
    }

    /// Runs `shard`; with `holdingStartSlot`, gives its start-window slot back once its first
    /// connection attempt has ended (ready, disconnected or stopped). A fatal error closes the
    /// start-up, so no further shard starts.
    private func run(_ shard: Shard, holdingStartSlot: Bool) async throws {
        do {
            guard holdingStartSlot else { return try await shard.run() }
            // A status callback, not a watching task: the slot is left at the first ready,
            // disconnected or stopped status, or when run() ends, whichever comes first (once).
            let left = NIOLockedValueBox(false)
            let leave: @Sendable () -> Void = { [startup] in
                if left.withLockedValue({ done in defer { done = true }; return !done }) { startup.leave() }
            }
            defer { leave() }
            shard.whenSettled(leave)
            try await shard.run()
        } catch {
            startup.close()
            throw error
        }
    }
}

/// A ShardManager is a swift-service-lifecycle `Service`: in a `ServiceGroup`, SIGTERM closes every
/// shard gracefully (resumable when ``ShardManager/Configuration/keepSessionsOnShutdown``) and saves
/// the sessions before the process exits.
extension ShardManager: Service {}
