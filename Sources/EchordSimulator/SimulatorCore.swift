import EchordModels
import Foundation
import Logging
import NIOCore
import NIOWebSocket

/// The simulator's whole state. It lives on one event loop and is only touched there: every
/// connection of the simulator is on that loop, so no lock guards it.
final class SimulatorCore {
    let configuration: SimulatorConfiguration
    let eventLoop: EventLoop
    let logger: Logger
    let world: SimulatorWorld
    var port = 0

    private let origin = NIODeadline.now()
    private var manualNow: Int64 = 0
    var now: Int64 {
        switch configuration.timeSource {
        case .realTime: return Int64(NIODeadline.now().uptimeNanoseconds - origin.uptimeNanoseconds)
        case .manual: return manualNow
        }
    }

    var connections: [Int: SimulatedConnection] = [:]
    private var nextConnectionID = 1
    var sessions: [String: SimulatedSession] = [:]
    var sessionsByShard: [ShardKey: [String: SimulatedSession]] = [:]
    var shardCountsInUse: [Int: Int] = [:]
    var identifyBuckets: [BucketKey: Int64] = [:]
    var sessionStartsRemaining: Int
    var sessionStartWindowEnd: Int64
    var allMembersRequests: [GuildBotKey: Int64] = [:]
    var scenarioProgress: [ScenarioKey: ScenarioProgress] = [:]
    var scenarioSessions: [ScenarioKey: String] = [:]
    var traffic: TrafficGenerator
    var random: SplitMix64
    /// Chaos mode's own generator (see `SimulatorCore+Chaos.swift`).
    var chaosRandom: SplitMix64
    /// What happened to every session's dispatches (see `ChaosLedger.swift`).
    var ledger = ChaosLedger()
    private var messageCounter: UInt64 = 0
    private var timers = TimerQueue()
    private var wakeup: (due: Int64, task: Scheduled<Void>)?
    private var log: SimulatorLogBuffer
    /// Sessions ended by an op 9 that never reached the client, until their resume window ends.
    var unannouncedInvalidations: [String: Int64] = [:]
    /// TCP connections still reading their first HTTP request, for the request timeout.
    var pendingHTTPChannels: [Int: NIOCore.Channel] = [:]
    var nextHTTPChannelID = 1
    let decoder = JSONDecoder()

    struct BucketKey: Hashable {
        let botUserID: Snowflake
        let bucket: Int
    }

    struct GuildBotKey: Hashable {
        let botUserID: Snowflake
        let guildID: Snowflake
    }

    init(configuration: SimulatorConfiguration, eventLoop: EventLoop, logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.world = SimulatorWorld(configuration: configuration.world)
        self.log = SimulatorLogBuffer(capacity: configuration.frameLogCapacity)
        self.sessionStartsRemaining = configuration.sessionStartLimitRemaining
        self.sessionStartWindowEnd = configuration.sessionStartLimitResetMilliseconds * 1_000_000
        self.traffic = TrafficGenerator(configuration: configuration.traffic)
        self.random = SplitMix64(seed: configuration.world.seed)
        self.chaosRandom = SplitMix64(seed: configuration.chaos?.seed ?? 0)
    }

    static func ms(_ milliseconds: Int64) -> Int64 { milliseconds * 1_000_000 }
    var heartbeatInterval: Int64 { Self.ms(Int64(configuration.heartbeatIntervalMilliseconds)) }

    // MARK: Time

    func schedule(_ timer: SimulatorTimer, after delay: Int64) {
        timers.schedule(timer, at: now + delay)
        armWakeup()
    }

    private func armWakeup() {
        guard case .realTime = configuration.timeSource, let due = timers.nextDue else { return }
        if let wakeup, wakeup.due <= due { return }
        wakeup?.task.cancel()
        let task = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(0, due - now))) {
            self.wakeup = nil
            self.runDueTimers(until: self.now)
        }
        wakeup = (due, task)
    }

    /// Fires every timer due at or before `until`, in order.
    func runDueTimers(until: Int64) {
        while let (due, timer) = timers.popDue(now: until) {
            if case .manual = configuration.timeSource { manualNow = max(manualNow, due) }
            fire(timer)
        }
        armWakeup()
    }

    /// Moves manual time forward and fires what falls due.
    func advanceTime(by nanoseconds: Int64) {
        let target = manualNow + nanoseconds
        runDueTimers(until: target)
        manualNow = target
    }

    func stopTimers() {
        wakeup?.task.cancel()
        wakeup = nil
    }

    private func fire(_ timer: SimulatorTimer) {
        switch timer {
        case .heartbeatCheck(let id):
            guard let conn = connections[id], conn.isOpen else { return }
            conn.heartbeatCheckScheduled = false
            if conn.frozen { return }
            if now >= conn.heartbeatDeadline {
                violation("no heartbeat within the interval and its grace", on: conn,
                          close: configuration.missedHeartbeatCloseCode)
            } else {
                conn.heartbeatCheckScheduled = true
                timers.schedule(.heartbeatCheck(connectionID: id), at: conn.heartbeatDeadline)
            }
        case .requestedHeartbeatCheck(let id):
            // While frozen the answer may sit unread in the kernel; the thaw re-arms this check.
            guard let conn = connections[id], conn.isOpen, !conn.frozen, let deadline = conn.requestedHeartbeatDeadline,
                now >= deadline
            else { return }
            conn.requestedHeartbeatDeadline = nil
            violation("did not answer the server's heartbeat request (op 1) in time", on: conn, close: nil)
            scenarioHeartbeatAnswered(on: conn)
        case .sessionExpiry(let id):
            guard let session = sessions[id], session.connection == nil, let expiry = session.expiresAt,
                now >= expiry
            else { return }
            record(.session("expired"), connection: nil, session: session)
            removeSession(session, reason: .expired)
        case .closeConnection(let id, let code, let reason):
            guard let conn = connections[id], conn.isOpen else { return }
            closeConnection(conn, code: code, reason: reason)
        case .httpRequestTimeout(let id):
            httpRequestTimedOut(id)
        case .scenario(let key, let step):
            runScenarioStep(step, key: key)
        case .trafficTick:
            trafficTick()
        case .chaosFault:
            chaosFault()
        case .chaosThaw(let id):
            chaosThaw(id)
        }
    }

    // MARK: Log

    func record(
        _ kind: SimulatorLogEntry.Kind, connection: SimulatedConnection?, session: SimulatedSession? = nil,
        opcode: Int? = nil, eventName: String? = nil, sequence: Int? = nil, byteCount: Int = 0, text: String? = nil
    ) {
        let session = session ?? connection?.session
        let time = now / 1_000_000
        log.append { index in
            SimulatorLogEntry(
                index: index, timeMilliseconds: time, connectionID: connection?.id ?? 0, sessionID: session?.id,
                shardID: session?.shardID, kind: kind, opcode: opcode, eventName: eventName, sequence: sequence,
                byteCount: byteCount, text: text)
        }
        switch kind {
        case .violation(let rule, let code):
            ledger.brokenRule(rule)
            logger.notice(
                "client broke a rule", metadata: ["rule": "\(rule)", "close": "\(code.map(String.init) ?? "-")",
                                                 "connection": "\(connection?.id ?? 0)"])
        case .received, .sent:
            if logger.logLevel <= .trace {
                logger.trace(
                    "\(kind == .received ? "<-" : "->") op=\(opcode ?? -1) t=\(eventName ?? "-") s=\(sequence ?? -1)",
                    metadata: ["connection": "\(connection?.id ?? 0)", "text": "\(text ?? "")"])
            }
        default:
            logger.debug("\(kind)", metadata: ["connection": "\(connection?.id ?? 0)"])
        }
    }

    func logEntries(since: Int) -> [SimulatorLogEntry] { log.entries(since: since) }

    /// Logs a rule `conn`'s client broke and, with `code`, closes the socket. The close reason is
    /// `reason`, or the rule itself; either is cut to 123 bytes. A rule that quotes client input
    /// passes a fixed `reason` and quotes the input ``clipped(_:)``.
    func violation(_ rule: String, on conn: SimulatedConnection, close code: UInt16?, reason: String? = nil) {
        record(.violation(rule: rule, closeCode: code), connection: conn)
        if let code { closeConnection(conn, code: code, reason: reason ?? rule) }
    }

    /// Client input quoted in a log line: at most `limit` characters, with `…` when cut.
    static func clipped(_ value: String, to limit: Int = 32) -> String {
        value.count <= limit ? value : value.prefix(limit) + "…"
    }

    // MARK: Connections

    /// A WebSocket was accepted. Returns the connection, already closed when the URL was refused.
    func connectionOpened(channel: NIOCore.Channel, path: String, query: [String: String], rawQuery: String)
        -> SimulatedConnection
    {
        let compressParameter = query["compress"] ?? "none"
        let compression = TransportCompression(rawValue: compressParameter)
        let conn = SimulatedConnection(
            id: nextConnectionID, channel: channel, path: path, isResumeURL: path.hasPrefix("/resume"),
            compression: compression ?? .none)
        nextConnectionID += 1
        connections[conn.id] = conn
        record(.connected(path: path, query: rawQuery), connection: conn)
        // Client-supplied values go into the log clipped, and never into a close reason.
        guard query["v"] == "10" else {
            violation("gateway version \(Self.clipped(query["v"] ?? "missing")) is not 10", on: conn, close: 4012,
                      reason: "Invalid API version")
            return conn
        }
        guard (query["encoding"] ?? "json") == "json" else {
            violation("encoding \(Self.clipped(query["encoding"] ?? "")) is not supported (json only)", on: conn,
                      close: 4002, reason: "Unsupported encoding")
            return conn
        }
        guard compression != nil else {
            violation("unknown compress=\(Self.clipped(compressParameter))", on: conn, close: 4002,
                      reason: "Unsupported compression")
            return conn
        }
        conn.heartbeatDeadline = now + grace(heartbeatInterval)
        conn.heartbeatCheckScheduled = true
        schedule(.heartbeatCheck(connectionID: conn.id), after: conn.heartbeatDeadline - now)
        let hello: SimulatorJSON = .object([
            ("t", nil), ("s", nil), ("op", 10),
            ("d", .object([
                ("heartbeat_interval", .int(Int64(configuration.heartbeatIntervalMilliseconds))),
            ])),
        ])
        sendControl(hello, opcode: 10, on: conn)
        return conn
    }

    func grace(_ interval: Int64) -> Int64 { interval + Int64(Double(interval) * configuration.heartbeatGraceFraction) }

    /// The TCP connection ended.
    func connectionClosed(_ conn: SimulatedConnection) {
        conn.phase = .closed
        if !conn.endLogged {
            conn.endLogged = true
            record(.dropped, connection: conn)
        }
        ledger.connectionEnded(conn.id, now: now)
        discardHeld(conn)
        connections[conn.id] = nil
        if let session = conn.session, session.connection === conn, sessions[session.id] != nil {
            detach(session)
        }
    }

    func detach(_ session: SimulatedSession) {
        record(.session("detached; resumable for \(configuration.sessionResumeWindowMilliseconds) ms"),
               connection: session.connection, session: session)
        session.connection = nil
        session.expiresAt = now + Self.ms(configuration.sessionResumeWindowMilliseconds)
        schedule(.sessionExpiry(sessionID: session.id), after: Self.ms(configuration.sessionResumeWindowMilliseconds))
    }

    /// Closes `conn` with a close frame carrying `code` (written after any frames a freeze holds).
    /// 1005 sends a close frame without a code; 1006 and 1015, which mean "no close frame", drop
    /// the TCP connection instead: none of the three goes on the wire.
    ///
    /// `invalidatedSessionID` names a session the close ends (4009): if the close never reaches the
    /// client, a RESUME of that session is not blamed on it.
    func closeConnection(_ conn: SimulatedConnection, code: UInt16, reason: String, invalidatedSessionID: String? = nil) {
        guard conn.isOpen else { return }
        if let session = conn.session, SessionEndReason.sessionEndingCloseCodes.contains(code) {
            // Discord's rules: after 4003, 4007 or 4009 the client must identify anew.
            ledger.end(session.id, reason: .closed(code))
        }
        if code == 1006 || code == 1015 {
            dropConnection(conn)
            return
        }
        conn.phase = .closed
        transmit(OutboundFrame(content: .close(code: code == 1005 ? nil : code, reason: reason),
                               invalidatedSessionID: invalidatedSessionID), on: conn)
    }

    /// Ends `conn`'s TCP connection without a close frame; frames a freeze holds are lost with it.
    func dropConnection(_ conn: SimulatedConnection) {
        guard !conn.endLogged else { return }
        conn.endLogged = true
        record(.dropped, connection: conn)
        ledger.connectionEnded(conn.id, now: now)
        discardHeld(conn)
        conn.drop()
    }

    // MARK: Sending

    /// Sends a non-dispatch payload.
    func sendControl(
        _ payload: SimulatorJSON, opcode: Int, on conn: SimulatedConnection, invalidatedSessionID: String? = nil
    ) {
        guard conn.isOpen else { return }
        let bytes = payload.serialized()
        transmit(OutboundFrame(
            content: .message(bytes), session: conn.session, opcode: opcode, text: serverText(bytes),
            invalidatedSessionID: invalidatedSessionID), on: conn)
    }

    func serverText(_ bytes: [UInt8]) -> String? {
        configuration.logServerPayloads ? String(decoding: bytes, as: UTF8.self) : nil
    }

    /// Numbers a dispatch in `session`, keeps it for replay and sends it when the session is live.
    func dispatch(_ eventName: String, data: [UInt8], to session: SimulatedSession) {
        session.sequence += 1
        ledger.produced(session)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count + eventName.utf8.count + 40)
        bytes.append(contentsOf: "{\"t\":\"".utf8)
        bytes.append(contentsOf: eventName.utf8)
        bytes.append(contentsOf: "\",\"s\":".utf8)
        bytes.append(contentsOf: String(session.sequence).utf8)
        bytes.append(contentsOf: ",\"op\":0,\"d\":".utf8)
        bytes.append(contentsOf: data)
        bytes.append(UInt8(ascii: "}"))
        session.appendReplay(
            sequence: session.sequence, bytes: bytes, eventName: eventName, limit: configuration.replayBufferLimit)
        if let conn = session.connection, conn.isOpen, !conn.reconnectRequested {
            transmit(OutboundFrame(
                content: .message(bytes), session: session, opcode: 0, eventName: eventName,
                sequence: session.sequence, text: serverText(bytes)), on: conn)
        }
    }

    func dispatch(_ eventName: String, json: SimulatorJSON, to session: SimulatedSession) {
        dispatch(eventName, data: json.serialized(), to: session)
    }

    // MARK: Sessions

    func addSession(_ session: SimulatedSession) {
        sessions[session.id] = session
        sessionsByShard[session.shardKey, default: [:]][session.id] = session
        shardCountsInUse[session.shardCount, default: 0] += 1
    }

    /// Forgets `session` (it can no longer be resumed); the ledger closes its account with `reason`.
    func removeSession(_ session: SimulatedSession, reason: SessionEndReason) {
        guard sessions.removeValue(forKey: session.id) != nil else { return }
        ledger.end(session.id, reason: reason)
        sessionsByShard[session.shardKey]?[session.id] = nil
        if sessionsByShard[session.shardKey]?.isEmpty == true { sessionsByShard[session.shardKey] = nil }
        shardCountsInUse[session.shardCount, default: 1] -= 1
        if shardCountsInUse[session.shardCount] == 0 { shardCountsInUse[session.shardCount] = nil }
        if let conn = session.connection, conn.session === session {
            conn.session = nil
            conn.phase = conn.isOpen ? .awaitingIdentify : .closed
        }
        session.connection = nil
    }

    /// Sessions whose shard serves `guild`, across every shard count in use.
    func sessions(serving guildID: Snowflake) -> [SimulatedSession] {
        var out: [SimulatedSession] = []
        for count in shardCountsInUse.keys {
            let key = ShardKey(shardID: guildID.shardIndex(shardCount: count), shardCount: count)
            if let found = sessionsByShard[key] { out.append(contentsOf: found.values) }
        }
        return out
    }

    func newSessionID() -> String {
        let hex = Array("0123456789abcdef")
        return String((0..<32).map { _ in hex[Int(random.next() & 0xF)] })
    }

    /// A fresh, increasing message id.
    func nextMessageID() -> Snowflake {
        messageCounter += 1
        return Snowflake(
            timestampMilliseconds: 1_700_000_000_000 + messageCounter / 4096, workerID: 7, processID: 1,
            increment: UInt16(messageCounter % 4096))
    }

    var gatewayURL: String { "\(webSocketScheme)://\(configuration.urlHost):\(port)/gateway" }
    var resumeGatewayURL: String { "\(webSocketScheme)://\(configuration.urlHost):\(port)/resume" }
    /// `wss` when the simulator serves TLS, else `ws`.
    var webSocketScheme: String { configuration.tls == nil ? "ws" : "wss" }

    func tokenIsAccepted(_ token: String) -> Bool {
        if !configuration.acceptedTokens.isEmpty { return configuration.acceptedTokens.contains(token) }
        return BotToken(token).isWellFormed
    }
}
