import EchordModels

/// Every protocol rule of one shard, as a pure value: inputs in, actions out. No I/O, no clock, no
/// tasks: the caller passes the current time (a `Duration` since any fixed origin) with every input
/// and carries out the actions. Randomness (heartbeat jitter, backoff) comes from a seeded
/// generator, so tests are exact.
///
/// Each input is handled by one function whose `switch` covers every state without a `default`,
/// so a new state or input is a compile error wherever it matters (the shape of postgres-nio's
/// `ConnectionStateMachine`). What a connection needs (its number, its heartbeat) lives in the
/// state's payload and goes with the state; what outlives connections (the session, the backoff
/// and failed-resume counts) is the machine's own.
///
/// The rules: HELLO → first heartbeat after `interval × random[0,1)` → IDENTIFY or RESUME;
/// heartbeats every interval with the last `s`; no ACK by the next beat means a zombie connection
/// (closed with a resumable code, then resumed); server op 1 → heartbeat at once; op 7 → reconnect
/// and resume; op 9 true → resume, op 9 false → new session after 1–5 s; close codes by
/// `GatewayCloseCode.recovery` (EchordModels); HELLO and READY/RESUMED timeouts; two failed resumes
/// fall back to IDENTIFY; a break in the dispatch sequence (see ``SequenceGate``) resumes from the
/// last contiguous `s`. RESUME goes to `resume_gateway_url`, IDENTIFY to the default URL.
///
/// Backoff: the first reconnect after a healthy connection (one that reached READY or RESUMED with
/// every heartbeat sent on it acknowledged) waits a random time below ``Configuration/backoffBase``;
/// each further attempt that fails before being healthy doubles the ceiling, up to
/// ``Configuration/backoffCap``, with full jitter. op 7, op 9 `true` and zombies reconnect at once.
/// (A connection cut before its first beat counts as healthy: with Discord's 41.25 s interval and
/// a fault every few seconds, waiting for an ACK would let the backoff grow across good resumes.)
package struct ShardStateMachine: Sendable {
    /// The timings and codes the machine uses.
    package struct Configuration: Sendable {
        /// The gateway URL for IDENTIFY (without query).
        package var gatewayURL: String
        /// How long to wait for HELLO after the socket opens.
        package var helloTimeout: Duration = .seconds(20)
        /// How long to wait for READY or RESUMED after sending IDENTIFY or RESUME.
        package var readyTimeout: Duration = .seconds(30)
        /// The first backoff ceiling; each failed attempt in a row doubles it, up to ``backoffCap``.
        package var backoffBase: Duration = .seconds(1)
        /// The largest backoff ceiling.
        package var backoffCap: Duration = .seconds(60)
        /// The wait before a new IDENTIFY after op 9 `false` (random within the range).
        package var invalidSessionDelay: ClosedRange<Duration> = .seconds(1)...(.seconds(5))
        /// Failed resumes in a row before the shard gives up the session and identifies.
        package var resumeAttemptsBeforeIdentify = 2
        /// The close code for closes the shard wants to resume after (anything but 1000/1001).
        package var resumableCloseCode: UInt16 = 4000
        /// How long a command submitted while the shard is not ready is held for READY or RESUMED.
        package var commandWaitLimit: Duration = .seconds(30)
        /// While events flow, the session is saved at the first dispatch or heartbeat ACK this long
        /// after the last check (besides READY, RESUMED, invalidation and stop).
        package var sessionSaveInterval: Duration = .seconds(5)

        /// Discord's timings, identifying on `gatewayURL`.
        package init(gatewayURL: String) { self.gatewayURL = gatewayURL }
    }

    /// What happened.
    package enum Input: Sendable, Equatable {
        /// Begin: connect (resuming when a session was restored).
        case start
        /// The socket opened.
        case connected
        /// The socket could not be opened.
        case connectFailed(GatewayTransportError)
        /// HELLO arrived.
        case hello(heartbeatInterval: Duration)
        /// The heartbeat ticker reached a beat.
        case heartbeatDue
        /// op 11.
        case heartbeatAck
        /// op 1 from the server.
        case heartbeatRequested
        /// The IDENTIFY or RESUME was written to the socket.
        case handshakeSent
        /// A dispatch (op 0) the connection's ``SequenceGate`` accepted, with its `s`, after it
        /// reached the event buffer (or was filtered out by the subscription).
        case dispatch(sequence: Int)
        /// READY's session fields.
        case ready(sessionID: String, resumeGatewayURL: String)
        /// The RESUMED dispatch.
        case resumed
        /// op 7.
        case reconnectRequested
        /// op 9.
        case invalidSession(resumable: Bool)
        /// The connection's ``SequenceGate`` found a gap, a repeat or `s` going backwards.
        case sequenceBroken(SequenceBreak)
        /// The socket ended: a close frame from the server with its code, or nil when the TCP
        /// connection dropped (or after the shard's own close).
        case closed(code: UInt16?)
        /// The transport cannot go on (a corrupt compression stream, invalid UTF-8, an unreadable
        /// HELLO or READY).
        case transportFailed(TransportFailure)
        /// A timer armed by ``Action/armHelloTimeout(after:connection:)`` or
        /// ``Action/armReadyTimeout(after:connection:)`` fired.
        case timeoutFired(connection: Int)
        /// The delay of ``Action/scheduleReconnect(after:)`` passed.
        case reconnectDelayElapsed
        /// Stop; keep the session resumable (close with a resumable code) or end it (1000).
        case stop(keepSession: Bool)
        /// The user submitted command `id`: send it when ready, else hold it.
        case commandSubmitted(id: Int)
        /// The deadline of ``Action/armCommandExpiry(at:)`` passed.
        case commandWaitElapsed
    }

    /// What to do.
    package enum Action: Sendable, Equatable {
        /// Open a socket to `url` (add the query); `connection` numbers it. Check its dispatches
        /// with a ``SequenceGate`` starting after `lastSequence` (nil for a new session).
        case connect(url: String, connection: Int, lastSequence: Int?)
        /// Start beating: the first beat after `firstBeatAfter`, then every `interval`.
        case startHeartbeating(interval: Duration, firstBeatAfter: Duration)
        /// Send op 1 with `sequence`.
        case sendHeartbeat(sequence: Int?)
        /// Send IDENTIFY (after the identify queue allows it), then report ``Input/handshakeSent``.
        case sendIdentify
        /// Send RESUME for `session`, then report ``Input/handshakeSent``.
        case sendResume(GatewaySession)
        /// Send a close frame with `code` and end the socket; report ``Input/closed(code:)`` after.
        case close(code: UInt16)
        /// Fire ``Input/timeoutFired(connection:)`` after `after` unless the connection ended.
        case armHelloTimeout(after: Duration, connection: Int)
        /// Likewise, for READY or RESUMED.
        case armReadyTimeout(after: Duration, connection: Int)
        /// Wait `after`, then report ``Input/reconnectDelayElapsed``.
        case scheduleReconnect(after: Duration)
        /// A heartbeat was acknowledged after `latency`.
        case recordLatency(Duration)
        /// The session changed (new, resumed or gone): save it.
        case persistSession(GatewaySession?)
        /// The status changed.
        case setStatus(ShardStatus)
        /// A reconnect is starting, for `reason` (logs and metrics).
        case recordReconnect(reason: DisconnectReason)
        /// Stopped for good.
        case stopped(ShardError?)
        /// Send command `id` on the current connection (through its send limiter).
        case sendCommand(id: Int)
        /// Command `id` waited ``Configuration/commandWaitLimit`` without the shard being ready: fail it.
        case expireCommand(id: Int)
        /// Report ``Input/commandWaitElapsed`` at `at` (replacing the previous deadline); nil: none.
        case armCommandExpiry(at: Duration?)
    }

    /// The heartbeat of one open connection.
    struct Heartbeat: Equatable {
        var interval: Duration
        var awaitingAck = false
        var sentAt: Duration?
        /// At least one ACK arrived on this connection.
        var acknowledged = false
        /// No heartbeat of this connection is left unanswered.
        var isAnswered: Bool { !awaitingAck }
    }

    /// What follows once a closing socket has ended.
    enum Plan: Equatable {
        /// Reconnect; `healthy` when the connection had reached READY/RESUMED with no heartbeat
        /// left unanswered.
        case reconnect(resume: Bool, delay: Duration?, reason: DisconnectReason, healthy: Bool)
        case stop(ShardError?)
    }

    enum State: Equatable {
        case idle
        case waitingToReconnect
        case connecting(connection: Int)
        case awaitingHello(connection: Int)
        case handshaking(connection: Int, heartbeat: Heartbeat, resuming: Bool)
        case ready(connection: Int, heartbeat: Heartbeat)
        case closing(connection: Int, then: Plan)
        case stopped
    }

    /// The session fields READY hands out.
    struct SessionIdentity: Equatable {
        var sessionID: String
        var resumeGatewayURL: String
    }

    /// The rules and timings the machine runs with.
    package let configuration: Configuration
    private(set) var state: State = .idle
    private var connectionCounter = 0
    private var random: ShardRandom
    private var backoffAttempts = 0
    private var failedResumes = 0
    private var identity: SessionIdentity?
    /// Commands held until READY or RESUMED, oldest first.
    var heldCommands: [(id: Int, expiresAt: Duration)] = []
    /// The session last handed out with ``Action/persistSession(_:)``, and when the cadence last looked.
    var lastPersisted: GatewaySession?
    var lastSaveCheck: Duration = .zero
    /// The last sequence number received in order (nil until the first dispatch of a session).
    package private(set) var sequence: Int?

    /// - Parameters:
    ///   - configuration: timings and URLs.
    ///   - session: a session to resume (restored from a ``SessionStore``).
    ///   - seed: seeds heartbeat jitter and backoff; fixed in tests.
    package init(configuration: Configuration, session: GatewaySession? = nil, seed: UInt64 = .random(in: .min ... .max)) {
        self.configuration = configuration
        self.random = ShardRandom(seed: seed)
        if let session {
            identity = SessionIdentity(sessionID: session.sessionID, resumeGatewayURL: session.resumeGatewayURL)
            sequence = session.sequence
        }
        lastPersisted = session
    }

    /// The session a reconnect would resume, if any.
    package var session: GatewaySession? {
        guard let identity else { return nil }
        return GatewaySession(sessionID: identity.sessionID, sequence: sequence ?? 0, resumeGatewayURL: identity.resumeGatewayURL)
    }

    /// The connection number events belong to, while one is open.
    package var currentConnection: Int? {
        switch state {
        case .connecting(let c), .awaitingHello(let c), .handshaking(let c, _, _), .ready(let c, _), .closing(let c, _): c
        case .idle, .waitingToReconnect, .stopped: nil
        }
    }

    /// Whether the shard stopped for good.
    package var isStopped: Bool { state == .stopped }

    /// Whether READY or RESUMED arrived on the current connection (commands may go).
    package var isReady: Bool {
        if case .ready = state { return true }
        return false
    }

    /// Feeds one input; returns the actions to carry out, in order.
    package mutating func handle(_ input: Input, now: Duration) -> [Action] {
        switch input {
        case .start: start()
        case .connected: connected()
        case .connectFailed(let error): connectFailed(error)
        case .hello(let interval): helloReceived(interval: interval)
        case .heartbeatDue: heartbeatDue(now: now)
        case .heartbeatAck: heartbeatAckReceived(now: now) + saveIfDue(now: now)
        case .heartbeatRequested: heartbeatRequested(now: now)
        case .handshakeSent: handshakeSent()
        case .dispatch(let s): dispatchReceived(sequence: s) + saveIfDue(now: now)
        case .ready(let id, let url): readyReceived(SessionIdentity(sessionID: id, resumeGatewayURL: url))
        case .resumed: resumedReceived()
        case .reconnectRequested: closeIfOpen(resume: true, delay: .zero, reason: .reconnectRequested)
        case .invalidSession(let resumable): invalidSessionReceived(resumable: resumable)
        case .sequenceBroken(let broken): closeIfOpen(resume: true, delay: nil, reason: .sequenceBroken(broken))
        case .transportFailed(let failure): transportFailed(failure)
        case .closed(let code): closed(code: code)
        case .timeoutFired(let connection): timeoutFired(connection: connection)
        case .reconnectDelayElapsed: reconnectDelayElapsed()
        case .stop(let keep): stop(keepSession: keep)
        case .commandSubmitted(let id): commandSubmitted(id: id, now: now)
        case .commandWaitElapsed: commandWaitElapsed(now: now)
        }
    }

    // MARK: Events

    private mutating func start() -> [Action] {
        switch state {
        case .idle:
            return connect()
        case .waitingToReconnect, .connecting, .awaitingHello, .handshaking, .ready, .closing, .stopped:
            return []
        }
    }

    private mutating func connected() -> [Action] {
        switch state {
        case .connecting(let connection):
            state = .awaitingHello(connection: connection)
            return [.armHelloTimeout(after: configuration.helloTimeout, connection: connection)]
        case .closing:
            return []  // a stop came while connecting: the close is already queued for this socket
        case .idle, .waitingToReconnect, .awaitingHello, .handshaking, .ready, .stopped:
            return []
        }
    }

    private mutating func connectFailed(_ error: GatewayTransportError) -> [Action] {
        switch state {
        case .connecting:
            return reconnect(resume: true, delay: nil, reason: .transport(.connect(error)), healthy: false)
        case .closing(_, let plan):
            // A socket asked to close while it was still connecting may never open at all.
            return finishClose(plan)
        case .idle, .waitingToReconnect, .awaitingHello, .handshaking, .ready, .stopped:
            return []
        }
    }

    private mutating func helloReceived(interval: Duration) -> [Action] {
        switch state {
        case .awaitingHello(let connection):
            let first = interval * random.unitInterval()
            let heartbeat = Heartbeat(interval: interval)
            var actions: [Action] = [.startHeartbeating(interval: interval, firstBeatAfter: first)]
            if let session {
                state = .handshaking(connection: connection, heartbeat: heartbeat, resuming: true)
                actions += [.setStatus(.resuming), .sendResume(session)]
            } else {
                state = .handshaking(connection: connection, heartbeat: heartbeat, resuming: false)
                actions += [.setStatus(.identifying), .sendIdentify]
            }
            return actions
        case .idle, .waitingToReconnect, .connecting, .handshaking, .ready, .closing, .stopped:
            return []  // a second HELLO changes nothing
        }
    }

    private mutating func handshakeSent() -> [Action] {
        switch state {
        case .handshaking(let connection, _, _):
            return [.armReadyTimeout(after: configuration.readyTimeout, connection: connection)]
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .ready, .closing, .stopped:
            return []
        }
    }

    private mutating func heartbeatDue(now: Duration) -> [Action] {
        switch state {
        case .handshaking(let connection, var heartbeat, let resuming):
            if heartbeat.awaitingAck { return closeIfOpen(resume: true, delay: .zero, reason: .zombie) }
            heartbeat.awaitingAck = true
            heartbeat.sentAt = now
            state = .handshaking(connection: connection, heartbeat: heartbeat, resuming: resuming)
            return [.sendHeartbeat(sequence: sequence)]
        case .ready(let connection, var heartbeat):
            if heartbeat.awaitingAck { return closeIfOpen(resume: true, delay: .zero, reason: .zombie) }
            heartbeat.awaitingAck = true
            heartbeat.sentAt = now
            state = .ready(connection: connection, heartbeat: heartbeat)
            return [.sendHeartbeat(sequence: sequence)]
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .closing, .stopped:
            return []
        }
    }

    private mutating func heartbeatRequested(now: Duration) -> [Action] {
        switch state {
        case .handshaking(let connection, var heartbeat, let resuming):
            heartbeat.awaitingAck = true
            heartbeat.sentAt = now
            state = .handshaking(connection: connection, heartbeat: heartbeat, resuming: resuming)
            return [.sendHeartbeat(sequence: sequence)]
        case .ready(let connection, var heartbeat):
            heartbeat.awaitingAck = true
            heartbeat.sentAt = now
            state = .ready(connection: connection, heartbeat: heartbeat)
            return [.sendHeartbeat(sequence: sequence)]
        case .awaitingHello:
            return [.sendHeartbeat(sequence: sequence)]  // before HELLO there is no beat to track
        case .idle, .waitingToReconnect, .connecting, .closing, .stopped:
            return []
        }
    }

    private mutating func heartbeatAckReceived(now: Duration) -> [Action] {
        func acknowledge(_ heartbeat: inout Heartbeat) -> [Action] {
            heartbeat.awaitingAck = false
            heartbeat.acknowledged = true
            defer { heartbeat.sentAt = nil }
            return heartbeat.sentAt.map { [.recordLatency(now - $0)] } ?? []
        }
        switch state {
        case .handshaking(let connection, var heartbeat, let resuming):
            let actions = acknowledge(&heartbeat)
            state = .handshaking(connection: connection, heartbeat: heartbeat, resuming: resuming)
            return actions
        case .ready(let connection, var heartbeat):
            let actions = acknowledge(&heartbeat)
            state = .ready(connection: connection, heartbeat: heartbeat)
            return actions
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .closing, .stopped:
            return []
        }
    }

    private mutating func dispatchReceived(sequence s: Int) -> [Action] {
        switch state {
        case .awaitingHello, .handshaking, .ready:
            sequence = s
        case .closing:
            // Read from a socket already being closed (after op 7, op 9 true, a zombie…): the event
            // reached the user, so the RESUME must start after it, or the gateway replays it twice.
            // After op 9 false the session is gone and stays gone.
            if identity != nil { sequence = s }
        case .idle, .waitingToReconnect, .connecting, .stopped:
            break
        }
        return []
    }

    private mutating func readyReceived(_ newIdentity: SessionIdentity) -> [Action] {
        switch state {
        case .handshaking(let connection, let heartbeat, _):
            identity = newIdentity
            failedResumes = 0
            state = .ready(connection: connection, heartbeat: heartbeat)
            return [persist(session), .setStatus(.ready)] + releaseCommands()
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .ready, .closing, .stopped:
            return []
        }
    }

    private mutating func resumedReceived() -> [Action] {
        switch state {
        case .handshaking(let connection, let heartbeat, true):
            failedResumes = 0
            state = .ready(connection: connection, heartbeat: heartbeat)
            return [persist(session), .setStatus(.ready)] + releaseCommands()
        case .handshaking(_, _, false):
            return []  // RESUMED without a RESUME
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .ready, .closing, .stopped:
            return []
        }
    }

    private mutating func invalidSessionReceived(resumable: Bool) -> [Action] {
        switch state {
        case .awaitingHello, .handshaking, .ready:
            if resumable && identity != nil {
                return closeIfOpen(resume: true, delay: .zero, reason: .invalidSession(resumable: true))
            }
            clearSession()
            let delay = random.duration(in: configuration.invalidSessionDelay)
            return [persist(nil)]
                + closeIfOpen(resume: false, delay: delay, reason: .invalidSession(resumable: resumable), code: 1000)
        case .idle, .waitingToReconnect, .connecting, .closing, .stopped:
            return []
        }
    }

    private mutating func transportFailed(_ failure: TransportFailure) -> [Action] {
        // RFC 6455 §7.4.1: 1007 for a text message that is not valid UTF-8. Any code but 1000 and
        // 1001 keeps the session resumable.
        let code: UInt16? = failure == .invalidUTF8 ? 1007 : nil
        return closeIfOpen(resume: true, delay: nil, reason: .transport(failure), code: code)
    }

    private mutating func timeoutFired(connection fired: Int) -> [Action] {
        switch state {
        case .awaitingHello(let connection) where connection == fired:
            return closeIfOpen(resume: true, delay: nil, reason: .helloTimeout)
        case .handshaking(let connection, _, let resuming) where connection == fired:
            return closeIfOpen(resume: true, delay: nil, reason: .readyTimeout(resuming: resuming))
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .handshaking, .ready, .closing, .stopped:
            return []  // a timer of an older connection, or one that is no longer waiting
        }
    }

    private mutating func closed(code: UInt16?) -> [Action] {
        switch state {
        case .closing(_, let plan):
            return finishClose(plan)
        case .awaitingHello, .handshaking, .ready:
            return serverClosed(code: code)
        case .idle, .waitingToReconnect, .connecting, .stopped:
            return []
        }
    }

    private mutating func reconnectDelayElapsed() -> [Action] {
        switch state {
        case .waitingToReconnect:
            return connect()
        case .idle, .connecting, .awaitingHello, .handshaking, .ready, .closing, .stopped:
            return []
        }
    }

    private mutating func stop(keepSession: Bool) -> [Action] {
        var actions: [Action] = []
        if !keepSession, state != .stopped {
            clearSession()
            actions.append(persist(nil))
        }
        switch state {
        case .connecting(let connection), .awaitingHello(let connection), .handshaking(let connection, _, _),
            .ready(let connection, _):
            state = .closing(connection: connection, then: .stop(nil))
            return actions + [.close(code: keepSession ? configuration.resumableCloseCode : 1000)]
        case .closing(let connection, _):
            state = .closing(connection: connection, then: .stop(nil))
            return actions
        case .idle, .waitingToReconnect:
            state = .stopped
            return actions + [.setStatus(.stopped(error: nil)), .stopped(nil)]
        case .stopped:
            return []
        }
    }

    // MARK: Helpers

    private mutating func clearSession() {
        identity = nil
        sequence = nil
        failedResumes = 0
    }

    private mutating func connect() -> [Action] {
        connectionCounter += 1
        state = .connecting(connection: connectionCounter)
        let url = identity?.resumeGatewayURL ?? configuration.gatewayURL
        return [
            .setStatus(.connecting(attempt: backoffAttempts)),
            .connect(url: url, connection: connectionCounter, lastSequence: identity == nil ? nil : sequence),
        ]
    }

    /// Sends a close on an open socket and plans what follows once it has ended.
    private mutating func closeIfOpen(
        resume: Bool, delay: Duration?, reason: DisconnectReason, code: UInt16? = nil
    ) -> [Action] {
        let connection: Int
        var healthy = false
        switch state {
        case .awaitingHello(let c):
            connection = c
        case .handshaking(let c, _, let resuming):
            connection = c
            if resuming && resume { failedResumes += 1 }
        case .ready(let c, let heartbeat):
            connection = c
            healthy = heartbeat.isAnswered
        case .idle, .waitingToReconnect, .connecting, .closing, .stopped:
            return []
        }
        state = .closing(connection: connection, then: .reconnect(resume: resume, delay: delay, reason: reason, healthy: healthy))
        return [.close(code: code ?? configuration.resumableCloseCode)]
    }

    private mutating func finishClose(_ plan: Plan) -> [Action] {
        switch plan {
        case .stop(let error):
            state = .stopped
            return [.setStatus(.stopped(error: error)), .stopped(error)]
        case .reconnect(let resume, let delay, let reason, let healthy):
            return reconnect(resume: resume, delay: delay, reason: reason, healthy: healthy)
        }
    }

    /// The server closed the socket (or it dropped) while it was open.
    private mutating func serverClosed(code: UInt16?) -> [Action] {
        var healthy = false
        switch state {
        case .handshaking(_, _, true): failedResumes += 1
        case .ready(_, let heartbeat): healthy = heartbeat.isAnswered
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .handshaking, .closing, .stopped: break
        }
        guard let code else { return reconnect(resume: true, delay: nil, reason: .dropped, healthy: healthy) }
        let closeCode = GatewayCloseCode(rawValue: code)
        switch closeCode.recovery {
        case .fatal:
            state = .stopped
            let error = ShardError.fatalClose(closeCode)
            return [.setStatus(.stopped(error: error)), .stopped(error)]
        case .newSession:
            return reconnect(resume: false, delay: nil, reason: .serverClose(code: code), healthy: healthy)
        case .resume:
            return reconnect(resume: true, delay: nil, reason: .serverClose(code: code), healthy: healthy)
        }
    }

    /// Plans the next connection: `delay` when given, else exponential backoff with full jitter,
    /// whose count restarts after a healthy connection.
    private mutating func reconnect(resume: Bool, delay: Duration?, reason: DisconnectReason, healthy: Bool) -> [Action] {
        if healthy { backoffAttempts = 0 }
        var actions: [Action] = []
        if !resume || failedResumes >= configuration.resumeAttemptsBeforeIdentify {
            if identity != nil { actions.append(persist(nil)) }
            clearSession()
        }
        let wait: Duration
        if let delay {
            wait = delay
        } else {
            let ceiling = min(configuration.backoffCap, configuration.backoffBase * (1 << min(backoffAttempts, 30)))
            wait = ceiling * random.unitInterval()
            backoffAttempts += 1
        }
        state = .waitingToReconnect
        actions += [.recordReconnect(reason: reason), .setStatus(.disconnected(reason: reason))]
        if wait <= .zero {
            return actions + connect()
        }
        return actions + [.scheduleReconnect(after: wait)]
    }
}
