import EchordModels

/// Every protocol rule of one shard, as a pure value: inputs in, actions out. No I/O, no clock, no
/// tasks: the caller passes the current time (a `Duration` since any fixed origin) with every input
/// and carries out the actions. Randomness (heartbeat jitter, backoff) comes from a seeded
/// generator, so tests are exact.
///
/// The rules: HELLO → first heartbeat after `interval × random[0,1)` → IDENTIFY or RESUME;
/// heartbeats every interval with the last `s`; no ACK by the next beat means a zombie connection
/// (closed with a resumable code, then resumed); server op 1 → heartbeat at once; op 7 → reconnect
/// and resume; op 9 true → resume, op 9 false → new session after 1–5 s; close codes by
/// `GatewayCloseCode.recovery` (EchordModels); HELLO and READY/RESUMED timeouts; two failed resumes fall back to
/// IDENTIFY; reconnects back off exponentially with full jitter, reset after a stable connection;
/// RESUME goes to `resume_gateway_url`, IDENTIFY to the default URL.
public struct ShardStateMachine: Sendable {
    /// The timings and codes the machine uses.
    public struct Configuration: Sendable {
        /// The gateway URL for IDENTIFY (without query).
        public var gatewayURL: String
        /// How long to wait for HELLO after the socket opens.
        public var helloTimeout: Duration = .seconds(20)
        /// How long to wait for READY or RESUMED after sending IDENTIFY or RESUME.
        public var readyTimeout: Duration = .seconds(30)
        /// The first backoff ceiling; each failed attempt doubles it, up to ``backoffCap``.
        public var backoffBase: Duration = .seconds(1)
        /// The largest backoff ceiling.
        public var backoffCap: Duration = .seconds(60)
        /// A connection ready for this long resets the backoff.
        public var stableConnection: Duration = .seconds(60)
        /// The wait before a new IDENTIFY after op 9 `false` (random within the range).
        public var invalidSessionDelay: ClosedRange<Duration> = .seconds(1)...(.seconds(5))
        /// Failed resumes in a row before the shard gives up the session and identifies.
        public var resumeAttemptsBeforeIdentify = 2
        /// The close code for closes the shard wants to resume after (anything but 1000/1001).
        public var resumableCloseCode: UInt16 = 4000

        /// Discord's timings, identifying on `gatewayURL`.
        public init(gatewayURL: String) { self.gatewayURL = gatewayURL }
    }

    /// What happened.
    public enum Input: Sendable, Equatable {
        /// Begin: connect (resuming when a session was restored).
        case start
        /// The socket opened.
        case connected
        /// The socket could not be opened.
        case connectFailed(reason: String)
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
        /// Any dispatch (op 0), with its `s` and `t`, after it reached the event buffer.
        case dispatch(sequence: Int?, eventName: String?)
        /// READY's session fields.
        case ready(sessionID: String, resumeGatewayURL: String)
        /// The RESUMED dispatch.
        case resumed
        /// op 7.
        case reconnectRequested
        /// op 9.
        case invalidSession(resumable: Bool)
        /// The socket ended: a close frame from the server with its code, or nil when the TCP
        /// connection dropped (or after the shard's own close).
        case closed(code: UInt16?)
        /// The transport cannot go on (a corrupt compression stream, a failed write).
        case transportFailed(reason: String)
        /// A timer armed by ``Action/armHelloTimeout(after:connection:)`` or
        /// ``Action/armReadyTimeout(after:connection:)`` fired.
        case timeoutFired(connection: Int)
        /// The delay of ``Action/scheduleReconnect(after:)`` passed.
        case reconnectDelayElapsed
        /// Stop; keep the session resumable (close with a resumable code) or end it (1000).
        case stop(keepSession: Bool)
    }

    /// What to do.
    public enum Action: Sendable, Equatable {
        /// Open a socket to `url` (add the query); `connection` numbers it.
        case connect(url: String, connection: Int)
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
        /// A reconnect is starting, for `reason` (metrics).
        case recordReconnect(reason: String)
        /// Stopped for good.
        case stopped(ShardError?)
    }

    private enum AfterClose: Equatable {
        case reconnect(resume: Bool, delay: Duration?, reason: String)
        case stop(ShardError?)
    }

    private enum State: Equatable {
        case idle
        case waitingToReconnect
        case connecting(connection: Int)
        case awaitingHello(connection: Int)
        case handshaking(connection: Int, resuming: Bool)
        case ready(connection: Int, since: Duration)
        case closing(connection: Int, then: AfterClose)
        case stopped
    }

    /// The rules and timings the machine runs with.
    public let configuration: Configuration
    private var state: State = .idle
    private var connectionCounter = 0
    private var random: ShardRandom
    private var backoffAttempts = 0
    private var failedResumes = 0
    // Heartbeat state of the current connection.
    private var heartbeatInterval: Duration?
    private var awaitingAck = false
    private var lastHeartbeatSentAt: Duration?
    /// The last sequence number received (null until the first dispatch).
    public private(set) var sequence: Int?
    private var sessionID: String?
    private var resumeURL: String?

    /// - Parameters:
    ///   - configuration: timings and URLs.
    ///   - session: a session to resume (restored from a ``SessionStore``).
    ///   - seed: seeds heartbeat jitter and backoff; fixed in tests.
    public init(configuration: Configuration, session: GatewaySession? = nil, seed: UInt64 = .random(in: .min ... .max)) {
        self.configuration = configuration
        self.random = ShardRandom(seed: seed)
        if let session {
            sessionID = session.sessionID
            sequence = session.sequence
            resumeURL = session.resumeGatewayURL
        }
    }

    /// The session a reconnect would resume, if any.
    public var session: GatewaySession? {
        guard let sessionID, let resumeURL else { return nil }
        return GatewaySession(sessionID: sessionID, sequence: sequence ?? 0, resumeGatewayURL: resumeURL)
    }

    /// The connection number events belong to, while one is open.
    public var currentConnection: Int? {
        switch state {
        case .connecting(let c), .awaitingHello(let c), .handshaking(let c, _), .ready(let c, _), .closing(let c, _): c
        default: nil
        }
    }

    /// Whether the shard stopped for good.
    public var isStopped: Bool { state == .stopped }

    /// Feeds one input; returns the actions to carry out, in order.
    public mutating func handle(_ input: Input, now: Duration) -> [Action] {
        switch (input, state) {
        case (_, .stopped):
            return []

        case (.stop(let keep), _):
            if !keep { clearSession() }
            if let connection = currentConnection, !isClosing {
                state = .closing(connection: connection, then: .stop(nil))
                return (keep ? [] : [.persistSession(nil)])
                    + [.close(code: keep ? configuration.resumableCloseCode : 1000)]
            }
            if isClosing, let connection = currentConnection {
                state = .closing(connection: connection, then: .stop(nil))
                return []
            }
            state = .stopped
            return (keep ? [] : [.persistSession(nil)]) + [.setStatus(.stopped(error: nil)), .stopped(nil)]

        case (.start, .idle), (.reconnectDelayElapsed, .waitingToReconnect):
            return connect()

        case (.connected, .connecting(let connection)):
            state = .awaitingHello(connection: connection)
            return [.armHelloTimeout(after: configuration.helloTimeout, connection: connection)]

        case (.connectFailed(let reason), .connecting):
            return reconnect(resume: session != nil, delay: nil, reason: "connect failed: \(reason)", now: now)

        case (.hello(let interval), .awaitingHello(let connection)):
            heartbeatInterval = interval
            awaitingAck = false
            let first = interval * random.unitInterval()
            let resuming = session != nil
            state = .handshaking(connection: connection, resuming: resuming)
            var actions: [Action] = [.startHeartbeating(interval: interval, firstBeatAfter: first)]
            if let session {
                actions += [.setStatus(.resuming), .sendResume(session)]
            } else {
                actions += [.setStatus(.identifying), .sendIdentify]
            }
            return actions

        case (.handshakeSent, .handshaking(let connection, _)):
            return [.armReadyTimeout(after: configuration.readyTimeout, connection: connection)]

        case (.heartbeatDue, _) where isOpen:
            guard heartbeatInterval != nil else { return [] }
            if awaitingAck {
                return closeAndReconnect(resume: true, delay: .zero, reason: "zombie connection: no heartbeat ACK")
            }
            awaitingAck = true
            lastHeartbeatSentAt = now
            return [.sendHeartbeat(sequence: sequence)]

        case (.heartbeatRequested, _) where isOpen:
            awaitingAck = true
            lastHeartbeatSentAt = now
            return [.sendHeartbeat(sequence: sequence)]

        case (.heartbeatAck, _) where isOpen:
            awaitingAck = false
            guard let sent = lastHeartbeatSentAt else { return [] }
            lastHeartbeatSentAt = nil
            return [.recordLatency(now - sent)]

        case (.dispatch(let s, _), _) where isOpen:
            if let s { sequence = s }
            return []

        case (.dispatch(let s, _), .closing) where sessionID != nil:
            // Read from a socket already being closed (after op 7, op 9 true, a zombie…): the event
            // reached the user, so the RESUME must start after it, or the gateway replays it twice.
            if let s { sequence = s }
            return []

        case (.ready(let id, let url), .handshaking(let connection, _)):
            sessionID = id
            resumeURL = url
            failedResumes = 0
            state = .ready(connection: connection, since: now)
            return [.persistSession(session), .setStatus(.ready)]

        case (.resumed, .handshaking(let connection, true)):
            failedResumes = 0
            state = .ready(connection: connection, since: now)
            return [.persistSession(session), .setStatus(.ready)]

        case (.reconnectRequested, _) where isOpen:
            return closeAndReconnect(resume: true, delay: .zero, reason: "op 7 reconnect")

        case (.invalidSession(let resumable), _) where isOpen:
            if resumable && session != nil {
                return closeAndReconnect(resume: true, delay: .zero, reason: "op 9 invalid session (resumable)")
            }
            clearSession()
            let delay = random.duration(in: configuration.invalidSessionDelay)
            return [.persistSession(nil)]
                + closeAndReconnect(resume: false, delay: delay, reason: "op 9 invalid session", code: 1000)

        case (.transportFailed(let reason), _) where isOpen:
            return closeAndReconnect(resume: true, delay: nil, reason: reason)

        case (.timeoutFired(let fired), .awaitingHello(let connection)) where fired == connection:
            return closeAndReconnect(resume: true, delay: nil, reason: "no HELLO within \(configuration.helloTimeout)")

        case (.timeoutFired(let fired), .handshaking(let connection, let resuming)) where fired == connection:
            return closeAndReconnect(
                resume: true, delay: nil,
                reason: "no \(resuming ? "RESUMED" : "READY") within \(configuration.readyTimeout)")

        case (.connectFailed, .closing(_, let then)), (.closed, .closing(_, let then)):
            // A socket asked to close while it was still connecting may never open at all.
            let code: UInt16? = if case .closed(let code) = input { code } else { nil }
            resetConnection()
            switch then {
            case .stop(let error):
                state = .stopped
                return [.setStatus(.stopped(error: error)), .stopped(error)]
            case .reconnect(let resume, let delay, let reason):
                return reconnect(resume: resume, delay: delay, reason: reason, now: now, closeCode: code)
            }

        case (.closed(let code), _) where isOpen:
            return serverClosed(code: code, now: now)

        default:
            return []
        }
    }

    // MARK: Helpers

    private var isOpen: Bool {
        switch state {
        case .awaitingHello, .handshaking, .ready: true
        default: false
        }
    }

    private var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }

    private mutating func clearSession() {
        sessionID = nil
        resumeURL = nil
        sequence = nil
        failedResumes = 0
    }

    private mutating func resetConnection() {
        heartbeatInterval = nil
        awaitingAck = false
        lastHeartbeatSentAt = nil
    }

    private mutating func connect() -> [Action] {
        connectionCounter += 1
        state = .connecting(connection: connectionCounter)
        let url = session?.resumeGatewayURL ?? configuration.gatewayURL
        return [.setStatus(.connecting(attempt: backoffAttempts)), .connect(url: url, connection: connectionCounter)]
    }

    /// Sends a close and decides what follows once the socket has ended.
    private mutating func closeAndReconnect(
        resume: Bool, delay: Duration?, reason: String, code: UInt16? = nil
    ) -> [Action] {
        guard let connection = currentConnection else { return [] }
        if case .handshaking(_, true) = state, resume { failedResumes += 1 }
        state = .closing(connection: connection, then: .reconnect(resume: resume, delay: delay, reason: reason))
        return [.close(code: code ?? configuration.resumableCloseCode)]
    }

    /// The server closed the socket (or it dropped) while it was open.
    private mutating func serverClosed(code: UInt16?, now: Duration) -> [Action] {
        if case .handshaking(_, true) = state { failedResumes += 1 }
        let wasReady: Duration? = if case .ready(_, let since) = state { since } else { nil }
        resetConnection()
        let closeCode = code.map(GatewayCloseCode.init(rawValue:))
        if let wasReady, now - wasReady >= configuration.stableConnection { backoffAttempts = 0 }
        switch closeCode?.recovery {
        case .fatal?:
            state = .stopped
            let error = ShardError.fatalClose(closeCode!)
            return [.setStatus(.stopped(error: error)), .stopped(error)]
        case .newSession?:
            clearSession()
            return [.persistSession(nil)]
                + reconnect(resume: false, delay: nil, reason: "closed with \(code!)", now: now, closeCode: code)
        default:
            let reason = code.map { "closed with \($0)" } ?? "connection dropped"
            return reconnect(resume: true, delay: nil, reason: reason, now: now, closeCode: code)
        }
    }

    /// Plans the next connection: `delay` when given, else exponential backoff with full jitter.
    private mutating func reconnect(
        resume: Bool, delay: Duration?, reason: String, now: Duration, closeCode: UInt16? = nil
    ) -> [Action] {
        resetConnection()
        var actions: [Action] = []
        if !resume || failedResumes >= configuration.resumeAttemptsBeforeIdentify {
            if session != nil { actions.append(.persistSession(nil)) }
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

/// SplitMix64: small, fast and seedable.
struct ShardRandom: Sendable {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unitInterval() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func duration(in range: ClosedRange<Duration>) -> Duration {
        range.lowerBound + (range.upperBound - range.lowerBound) * unitInterval()
    }
}
