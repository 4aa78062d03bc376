import EchordModels
import NIOCore
import NIOWebSocket

/// A fault the simulator can inject, through ``GatewaySimulator/inject(_:target:)`` or the HTTP
/// control API.
public enum SimulatorFault: Sendable, Equatable {
    /// Send op 7 RECONNECT; dispatches wait in the session for the RESUME, and the socket is closed
    /// with 4000 after 5 s if the client has not closed it.
    case reconnect
    /// Send op 9 INVALID_SESSION. Not resumable: the session is deleted.
    case invalidSession(resumable: Bool)
    /// Close the socket with a close frame carrying `code`; the session stays resumable. The codes
    /// RFC 6455 keeps off the wire are played as what they stand for: 1005 sends a close frame
    /// without a code, 1006 and 1015 end the TCP connection without a close frame.
    case close(code: UInt16)
    /// End the TCP connection without a close frame; the session stays resumable.
    case dropConnection
    /// Stop acknowledging heartbeats (a zombie connection); events still flow.
    case stopHeartbeatAcks
    /// Acknowledge heartbeats again.
    case resumeHeartbeatAcks
    /// Stall the socket as a hung server or a stuck network would: the simulator stops reading it
    /// and holds every frame it produces for it, in order. Past
    /// ``SimulatorConfiguration/freezeHeldBytesLimit`` held bytes the TCP connection is dropped
    /// without a close frame (the session stays resumable, its dispatches are replayed on RESUME).
    /// The client's heartbeat deadlines stand still while frozen.
    case freeze
    /// Undo ``freeze``: the held frames are written in order, then the socket is read again.
    case thaw
    /// Send a frame that is not valid JSON.
    case malformedFrame
    /// Send op 1, asking for an immediate heartbeat.
    case requestHeartbeat
    /// Drop every socket without a close frame, as a restarting gateway would; sessions are kept.
    case restart
    /// Expire sessions: a connected one is closed with 4009, and none can be resumed any more.
    case expireSessions
    /// Send `bytes` as they are in one text frame (or a binary one), bypassing transport
    /// compression and the session's sequence numbers: hostile input for client tests (a forged
    /// `s`, a dispatch without `t`, invalid UTF-8). Not offered by the HTTP control API.
    case rawFrame(bytes: [UInt8], binary: Bool = false)

    /// The name used by the control API (`POST /control/<name>`).
    public var controlName: String {
        switch self {
        case .reconnect: "reconnect"
        case .invalidSession: "invalid-session"
        case .close: "close"
        case .dropConnection: "drop"
        case .stopHeartbeatAcks: "zombie"
        case .resumeHeartbeatAcks: "unzombie"
        case .freeze: "freeze"
        case .thaw: "thaw"
        case .malformedFrame: "malformed"
        case .requestHeartbeat: "heartbeat-request"
        case .restart: "restart"
        case .expireSessions: "expire-sessions"
        case .rawFrame: "raw"
        }
    }
}

/// Which connections or sessions a fault applies to.
public enum SimulatorTarget: Sendable, Equatable {
    /// Every connection or session.
    case all
    /// Those of shard `id` (any shard count).
    case shard(Int)
    /// The session with this id.
    case session(String)
    /// The connection with this id (see ``SimulatorLogEntry/connectionID``).
    case connection(Int)
}

extension SimulatorCore {
    private func matches(_ target: SimulatorTarget, connection conn: SimulatedConnection) -> Bool {
        switch target {
        case .all: true
        case .shard(let id): conn.session?.shardID == id
        case .session(let id): conn.session?.id == id
        case .connection(let id): conn.id == id
        }
    }

    private func matches(_ target: SimulatorTarget, session: SimulatedSession) -> Bool {
        switch target {
        case .all: true
        case .shard(let id): session.shardID == id
        case .session(let id): session.id == id
        case .connection(let id): session.connection?.id == id
        }
    }

    /// Applies `fault` and returns how many connections or sessions it touched.
    func inject(_ fault: SimulatorFault, target: SimulatorTarget) -> Int {
        let open = connections.values.filter { $0.isOpen && matches(target, connection: $0) }.sorted { $0.id < $1.id }
        let targetedSessions = sessions.values.filter { matches(target, session: $0) }.sorted { $0.id < $1.id }
        record(.session("fault \(fault.controlName) injected on \(target)"), connection: nil)
        logger.info("injecting fault", metadata: ["fault": "\(fault.controlName)", "target": "\(target)"])
        switch fault {
        case .reconnect:
            open.forEach { sendReconnect(on: $0) }
            return open.count
        case .invalidSession(let resumable):
            targetedSessions.forEach { invalidateSession($0, resumable: resumable) }
            return targetedSessions.count
        case .close(let code):
            open.forEach { closeConnection($0, code: code, reason: "fault injected") }
            return open.count
        case .dropConnection:
            let live = connections.values.filter { !$0.endLogged && matches(target, connection: $0) }
            live.sorted { $0.id < $1.id }.forEach { dropConnection($0) }
            return live.count
        case .stopHeartbeatAcks, .resumeHeartbeatAcks:
            open.forEach { $0.acknowledgesHeartbeats = fault == .resumeHeartbeatAcks }
            return open.count
        case .freeze:
            open.forEach { freeze($0) }
            return open.count
        case .thaw:
            // A connection closed while frozen still holds its frames (its close frame last).
            let frozen = connections.values.filter { $0.frozen && !$0.endLogged && matches(target, connection: $0) }
            frozen.sorted { $0.id < $1.id }.forEach { thaw($0) }
            return frozen.count
        case .malformedFrame:
            for conn in open {
                let bytes = Array("{\"t\":\"MESSAGE_CREATE\",\"s\":".utf8)
                transmit(OutboundFrame(content: .message(bytes), session: conn.session, text: "(malformed)"), on: conn)
            }
            return open.count
        case .requestHeartbeat:
            open.forEach { requestHeartbeat(on: $0) }
            return open.count
        case .restart:
            let all = connections.values.filter { !$0.endLogged }
            all.sorted { $0.id < $1.id }.forEach { dropConnection($0) }
            return all.count
        case .expireSessions:
            for session in targetedSessions {
                if let conn = session.connection, conn.isOpen {
                    closeConnection(conn, code: 4009, reason: "session expired", invalidatedSessionID: session.id)
                }
                record(.session("expired by fault"), connection: nil, session: session)
                removeSession(session, reason: .closed(4009))
            }
            return targetedSessions.count
        case .rawFrame(let bytes, let binary):
            open.forEach { sendRawFrame(bytes, binary: binary, on: $0) }
            return open.count
        }
    }

    /// Sends a dispatch to every session serving `guildID` (or to every session when nil).
    func dispatchCustom(eventName: String, data: [UInt8], guildID: Snowflake?) -> Int {
        let targets = guildID.map { sessions(serving: $0) } ?? Array(sessions.values)
        for session in targets.sorted(by: { $0.id < $1.id }) { dispatch(eventName, data: data, to: session) }
        return targets.count
    }
}

extension SimulatorCore {
    /// Writes `bytes` in one frame on `conn`, as they are (see ``SimulatorFault/rawFrame(bytes:binary:)``).
    func sendRawFrame(_ bytes: [UInt8], binary: Bool, on conn: SimulatedConnection) {
        guard conn.isOpen, !conn.frozen else { return }
        record(.sent, connection: conn, byteCount: bytes.count, text: "(raw frame)")
        var buffer = conn.channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        conn.channel.writeAndFlush(WebSocketFrame(fin: true, opcode: binary ? .binary : .text, data: buffer), promise: nil)
    }
}
