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

    /// Everything the manager needs.
    public struct Configuration: Sendable {
        /// The bot token.
        public var token: BotToken
        /// The intents every shard identifies with (``perShard`` may change them).
        public var intents: GatewayIntents
        /// The bot's shard count.
        public var shardCount: ShardCount = .automatic
        /// The shard ids this process runs (nil: all of them), so one bot can span processes.
        public var shardIDs: [Int]? = nil
        /// The REST base for `GET /gateway/bot`.
        public var apiBaseURL: String = "https://discord.com/api/v10"
        /// Certificate authorities trusted besides the system's roots, for discovery (`https://`) and
        /// every shard (`wss://`); all of them share one TLS context. A root that cannot be loaded
        /// makes ``ShardManager/run()`` throw ``TLSTrustRootError`` before any request.
        public var additionalTrustRoots: [TLSTrustRoot] = []
        /// Transport compression for every shard.
        public var compression: GatewayCompression = .preferred
        /// The presence every shard identifies with.
        public var presence: PresenceUpdate? = nil
        /// The dispatches delivered to ``ShardManager/events`` (see ``ShardConfiguration/eventSubscription``).
        public var eventSubscription: GatewayEventSubscription = .all
        /// Adjusts one shard's configuration (intents, presence, timings) before it starts.
        public var perShard: (@Sendable (inout ShardConfiguration) -> Void)? = nil
        /// Whether a graceful shutdown keeps the sessions resumable (close 4000 and save them) or
        /// ends them (close 1000).
        public var keepSessionsOnShutdown = true

        /// A configuration with an automatic shard count and every shard in this process.
        public init(token: BotToken, intents: GatewayIntents) {
            self.token = token
            self.intents = intents
        }
    }

    /// The configuration it runs with.
    public let configuration: Configuration
    /// Every dispatch of every shard, each tagged with its ``GatewayDispatch/shardID``; in order
    /// within a shard. Ends when the manager stops.
    public let events: ShardEvents
    let buffer: EventBuffer<GatewayDispatch>
    let sessionStore: any SessionStore
    let clock: GatewayClock
    let logger: Logger
    let identifyQueueOverride: (any IdentifyQueue)?
    private let state = NIOLockedValueBox(State())

    private struct State {
        var shards: [Int: Shard] = [:]
        var shardCount: Int?
        var stopRequested: Bool?
        var started = false
    }

    /// - Parameters:
    ///   - configuration: token, intents, shard count and set.
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
        self.buffer = EventBuffer(capacity: 8192)
        self.events = ShardEvents(buffer: buffer)
        self.sessionStore = sessionStore
        self.identifyQueueOverride = identifyQueue
        self.clock = clock
        self.logger = logger
    }

    /// The shards this process runs, by id (empty until ``run()`` has discovered the count).
    public var shards: [Int: Shard] { state.withLockedValue { $0.shards } }
    /// The bot's shard count, once known.
    public var shardCount: Int? { state.withLockedValue { $0.shardCount } }

    /// The status of every shard of this process.
    public var statuses: [Int: ShardStatus] { shards.mapValues(\.status) }

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
        let shards = self.shards
        guard let guildID = command.guildID else {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for shard in shards.values { group.addTask { try await shard.send(command) } }
                try await group.waitForAll()
            }
            return
        }
        guard let id = shardID(forGuild: guildID) else { throw ShardManagerError.notStarted }
        guard let shard = shards[id] else { throw ShardManagerError.shardNotInThisProcess(id) }
        try await shard.send(command)
    }

    /// Stops every shard (see ``Configuration/keepSessionsOnShutdown``); ``run()`` returns once they
    /// have closed and saved their sessions.
    public func stop() {
        let shards = state.withLockedValue { state -> [Shard] in
            state.stopRequested = configuration.keepSessionsOnShutdown
            return Array(state.shards.values)
        }
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
        let trustRoots = configuration.additionalTrustRoots
        if !trustRoots.isEmpty { _ = try SharedTLS.context(trusting: trustRoots) }  // a bad CA file fails here, once
        let discovery = GatewayDiscovery(
            apiBaseURL: configuration.apiBaseURL, token: configuration.token, clock: clock,
            additionalTrustRoots: trustRoots, logger: logger)
        let info = try await discovery.gatewayBot()
        let count: Int
        switch configuration.shardCount {
        case .automatic: count = max(1, info.shards)
        case .exactly(let n): count = n
        }
        let ids = configuration.shardIDs ?? Array(0..<count)
        guard count >= 1, !ids.isEmpty, ids.allSatisfy({ (0..<count).contains($0) }), Set(ids).count == ids.count else {
            throw ShardManagerError.invalidShardSet(ids: ids, count: count)
        }
        // Shards that hold a stored session resume and need no session start.
        var needed = 0
        for id in ids where (try? await sessionStore.session(shardID: id, shardCount: count)) == nil { needed += 1 }
        let limit = info.sessionStartLimit
        if needed > limit.total {
            throw ShardManagerError.sessionStartLimitTooLow(needed: needed, total: limit.total)
        }
        if needed > limit.remaining {
            logger.warning("session start limit exhausted; waiting for it to reset", metadata: [
                "needed": "\(needed)", "remaining": "\(limit.remaining)", "reset_after": "\(limit.resetAfter)",
            ])
            try await clock.sleep(for: limit.resetAfter)
        }
        let queue = identifyQueueOverride ?? LocalIdentifyQueue(maxConcurrency: limit.maxConcurrency, clock: clock)
        logger.info("starting shards", metadata: [
            "count": "\(count)", "ids": "\(ids.count)", "max_concurrency": "\(limit.maxConcurrency)", "url": "\(info.url)",
        ])
        let fleet: [Int: Shard] = Dictionary(uniqueKeysWithValues: ids.map { id in
            var shardConfiguration = ShardConfiguration(token: configuration.token, intents: configuration.intents)
            shardConfiguration.shardID = id
            shardConfiguration.shardCount = count
            shardConfiguration.gatewayURL = info.url
            shardConfiguration.compression = configuration.compression
            shardConfiguration.presence = configuration.presence
            shardConfiguration.eventSubscription = configuration.eventSubscription
            shardConfiguration.additionalTrustRoots = trustRoots
            configuration.perShard?(&shardConfiguration)
            // Every shard delivers straight into the merged buffer: no forwarding task, no second copy.
            let shard = Shard(
                configuration: shardConfiguration, sessionStore: sessionStore, identifyQueue: queue, clock: clock,
                logger: logger, seed: .random(in: .min ... .max), sharedBuffer: buffer)
            return (id, shard)
        })
        let stopRequested: Bool? = state.withLockedValue { state in
            state.shards = fleet
            state.shardCount = count
            return state.stopRequested
        }
        if let keep = stopRequested { fleet.values.forEach { $0.stop(keepSession: keep) } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Bucket order: shards start in id order, so each bucket's queue is served in order.
            for id in ids.sorted() {
                let shard = fleet[id]!
                group.addTask { try await shard.run() }
            }
            do {
                try await group.waitForAll()
            } catch {
                logger.error("a shard stopped with an error; stopping the others", metadata: ["error": "\(error)"])
                fleet.values.forEach { $0.stop(keepSession: true) }
                throw error
            }
        }
    }
}

/// A ShardManager is a swift-service-lifecycle `Service`: in a `ServiceGroup`, SIGTERM closes every
/// shard gracefully (resumable when ``ShardManager/Configuration/keepSessionsOnShutdown``) and saves
/// the sessions before the process exits.
extension ShardManager: Service {}

/// Why a ShardManager could not do what was asked.
public enum ShardManagerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The shard set is empty, has duplicates, or ids outside `0..<count`.
    case invalidShardSet(ids: [Int], count: Int)
    /// More shards need a new session than the daily session start limit allows at all.
    case sessionStartLimitTooLow(needed: Int, total: Int)
    /// The guild's shard runs in another process.
    case shardNotInThisProcess(Int)
    /// The shard count is not known yet (``ShardManager/run()`` has not discovered it).
    case notStarted

    public var description: String {
        switch self {
        case .invalidShardSet(let ids, let count): "invalid shard set \(ids) for \(count) shards"
        case .sessionStartLimitTooLow(let needed, let total):
            "\(needed) shards need a new session but the session start limit is \(total)"
        case .shardNotInThisProcess(let id): "shard \(id) does not run in this process"
        case .notStarted: "the manager has not started"
        }
    }
}
