import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// One resilient gateway connection.
///
/// `run()` owns the connection: the task that calls it is the shard's one long-lived task. The
/// socket is read by a channel handler (inflate, scan, hand on), the timers (heartbeats, HELLO/READY
/// timeouts, backoff, held commands, send pacing) are deadlines on the clock, and the short jobs (an
/// identify wait, a connect, a session save) run as child tasks of a discarding task group that
/// keeps none once finished. It reconnects and resumes as the protocol asks, until
/// ``stop(keepSession:)``, a fatal close code, or cancellation of the task that runs it (which
/// closes with a resumable code and keeps the session). Every protocol rule lives in
/// the shard state machine (`ShardStateMachine`, package access); this type only does the I/O.
///
/// ```swift
/// let shard = Shard(configuration: .init(token: BotToken(token), intents: [.guilds, .guildMessages]))
/// async let running: Void = shard.run()
/// for await dispatch in shard.events {
///     if case .messageCreate(let message) = dispatch.event { print(message.content) }
/// }
/// ```
public final class Shard: Sendable {
    /// The configuration it runs with.
    public let configuration: ShardConfiguration
    /// The dispatches received, in order, from every connection of the shard's life.
    ///
    /// The buffer holds ``ShardConfiguration/eventBufferCapacity`` events. When it is full the shard
    /// stops reading its socket until the consumer catches up; heartbeats go on. If the consumer is
    /// so slow that a heartbeat ACK cannot be read in time, the shard reconnects and resumes, and the
    /// gateway replays the rest: events are delayed, never dropped. The sequence ends when the shard
    /// stops. Iterate it from one task: a second task waiting for events while the first
    /// one waits is a programming error and traps (it would otherwise take the first one's events
    /// and leave it waiting forever). For a shard of a ``ShardManager`` this is the manager's
    /// merged stream: iterate ``ShardManager/events`` instead.
    public let events: ShardEvents
    let buffer: EventBuffer
    /// False when the buffer is shared with other shards (a ShardManager's merged stream): then
    /// this shard does not end it when it stops.
    let ownsBuffer: Bool
    let clock: GatewayClock
    let logger: Logger
    let sessionStore: any SessionStore
    let identifyQueue: any IdentifyQueue
    let seed: UInt64
    let shared: NIOLockedValueBox<SharedState>
    let metrics: ShardMetrics
    /// The newest `s` of the open connection, left by its channel handler for the main loop.
    let sequences = SequenceMailbox()

    struct SharedState {
        var status: ShardStatus = .idle
        var latency: Duration?
        var session: GatewaySession?
        var inputs: AsyncStream<DriverInput>.Continuation?
        var stopRequested: Bool?
        var started = false
        var nextCommandID = 0
        var commandWaiters: [Int: CheckedContinuation<Void, Error>] = [:]
        var statusWatchers: [Int: AsyncStream<ShardStatus>.Continuation] = [:]
        var nextWatcherID = 0
        /// Run once at the first ready, disconnected or stopped status (see ``Shard/whenSettled(_:)``).
        var settledCallbacks: [@Sendable () -> Void] = []
    }

    /// - Parameters:
    ///   - configuration: token, intents, shard, URLs, timings.
    ///   - sessionStore: where the session is loaded from at start and saved to.
    ///   - identifyQueue: grants IDENTIFYs (a ShardManager shares one across shards).
    ///   - clock: the clock heartbeats, timeouts and backoff wait on.
    ///   - logger: logs (the token never appears; `debug` shows every frame).
    ///   - seed: seeds heartbeat jitter and backoff (random by default).
    public convenience init(
        configuration: ShardConfiguration, sessionStore: any SessionStore = InMemorySessionStore(),
        identifyQueue: any IdentifyQueue = LocalIdentifyQueue(), clock: GatewayClock = .continuous,
        logger: Logger = Logger(label: "echord.shard"), seed: UInt64 = .random(in: .min ... .max)
    ) {
        self.init(
            configuration: configuration, sessionStore: sessionStore, identifyQueue: identifyQueue, clock: clock,
            logger: logger, seed: seed, sharedBuffer: nil)
    }

    /// A shard that delivers into `sharedBuffer` (a ShardManager's merged stream) when given.
    init(
        configuration: ShardConfiguration, sessionStore: any SessionStore, identifyQueue: any IdentifyQueue,
        clock: GatewayClock, logger: Logger, seed: UInt64, sharedBuffer: EventBuffer?
    ) {
        self.configuration = configuration
        self.buffer = sharedBuffer ?? EventBuffer(capacity: configuration.eventBufferCapacity)
        self.ownsBuffer = sharedBuffer == nil
        self.events = ShardEvents(buffer: buffer)
        self.clock = clock
        var logger = logger
        logger[metadataKey: "shard"] = "\(configuration.shardID)/\(configuration.shardCount)"
        self.logger = logger
        self.sessionStore = sessionStore
        self.identifyQueue = identifyQueue
        self.seed = seed
        self.shared = NIOLockedValueBox(SharedState())
        self.metrics = ShardMetrics(shardID: configuration.shardID)
    }

    /// The connection's state.
    public var status: ShardStatus { shared.withLockedValue { $0.status } }
    /// The time between the last heartbeat and its ACK.
    public var heartbeatLatency: Duration? { shared.withLockedValue { $0.latency } }
    /// The session a reconnect would resume, with the sequence number of the last dispatch that
    /// reached ``events``. (The ``SessionStore`` gets it in batches: at READY, RESUMED, stop and
    /// every ``ShardConfiguration/sessionSaveInterval``.)
    public var session: GatewaySession? {
        // The handler's newest `s` the main loop has not taken yet (it takes it at its next input).
        let waiting = sequences.waiting
        return shared.withLockedValue { state in
            guard var session = state.session, let waiting else { return state.session }
            session.sequence = waiting
            return session
        }
    }

    /// Status changes from now on, starting with the current status; ends when the shard stops.
    public func statusUpdates() -> AsyncStream<ShardStatus> {
        let (stream, continuation) = AsyncStream.makeStream(of: ShardStatus.self)
        let finished: Bool = shared.withLockedValue { state in
            continuation.yield(state.status)
            if case .stopped = state.status { return true }
            state.nextWatcherID += 1
            let id = state.nextWatcherID
            state.statusWatchers[id] = continuation
            continuation.onTermination = { [weak self] _ in
                self?.shared.withLockedValue { _ = $0.statusWatchers.removeValue(forKey: id) }
            }
            return false
        }
        if finished { continuation.finish() }
        return stream
    }

    /// Asks the shard to stop: with `keepSession` it closes with a resumable code and saves the
    /// session so a new process can resume; otherwise it closes with 1000, which ends the session.
    public func stop(keepSession: Bool = false) {
        let inputs: AsyncStream<DriverInput>.Continuation? = shared.withLockedValue { state in
            state.stopRequested = keepSession
            return state.inputs
        }
        inputs?.yield(.machine(.stop(keepSession: keepSession), connection: nil))
    }

    /// Sends a command. A command issued while the shard is not ready waits for READY or RESUMED,
    /// up to ``ShardConfiguration/commandWaitLimit``; commands share the connection's send limit
    /// with heartbeats, which always keep room.
    ///
    /// - Throws: ``GatewayCommandError``: too large (checked before anything is sent), not connected
    ///   in time, or the shard stopped.
    public func send(_ command: GatewayCommand) async throws {
        let bytes = try command.encoded()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let registered: (Int, AsyncStream<DriverInput>.Continuation)? = shared.withLockedValue { state in
                if case .stopped = state.status { return nil }
                guard let inputs = state.inputs else { return nil }
                state.nextCommandID += 1
                state.commandWaiters[state.nextCommandID] = continuation
                return (state.nextCommandID, inputs)
            }
            guard let (id, inputs) = registered else {
                continuation.resume(throwing: GatewayCommandError.shardStopped)
                return
            }
            inputs.yield(.command(id: id, bytes: bytes, opcode: command.opcode.rawValue))
        }
    }

    func completeCommand(_ id: Int, with error: Error?) {
        let waiter = shared.withLockedValue { $0.commandWaiters.removeValue(forKey: id) }
        if let error { waiter?.resume(throwing: error) } else { waiter?.resume() }
    }

    /// Runs `body` once the shard is first ready, disconnected or stopped (at once if it is): its
    /// first connection attempt has ended. A callback, so a caller waiting for that keeps no task.
    func whenSettled(_ body: @escaping @Sendable () -> Void) {
        let now: Bool = shared.withLockedValue { state in
            if Self.isSettled(state.status) { return true }
            state.settledCallbacks.append(body)
            return false
        }
        if now { body() }
    }

    private static func isSettled(_ status: ShardStatus) -> Bool {
        switch status {
        case .ready, .disconnected, .stopped: true
        default: false
        }
    }

    func setStatus(_ status: ShardStatus) {
        let (watchers, settled) = shared.withLockedValue { state -> ([AsyncStream<ShardStatus>.Continuation], [@Sendable () -> Void]) in
            state.status = status
            var settled: [@Sendable () -> Void] = []
            if Self.isSettled(status), !state.settledCallbacks.isEmpty { swap(&settled, &state.settledCallbacks) }
            return (Array(state.statusWatchers.values), settled)
        }
        settled.forEach { $0() }
        for watcher in watchers {
            watcher.yield(status)
            if case .stopped = status { watcher.finish() }
        }
    }
}
