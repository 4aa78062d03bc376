import NIOCore
import NIOWebSocket

// How server frames reach the socket, and what a freeze does to them.
//
// A frozen connection behaves like a stalled TCP connection: the simulator stops reading it (client
// frames wait in the kernel) and holds every frame it produces for it, in order. The thaw writes
// the held frames, oldest first, then reads again. Past `freezeHeldBytesLimit` held bytes the TCP
// connection is dropped without a close frame, as a kernel whose buffer overflows would end it; the
// session stays resumable and its dispatches are replayed on RESUME. No frame is ever skipped in the
// middle of a live stream.
//
// The log records a server frame as sent when it is written to the socket, not when it is produced;
// deadlines that depend on a frame (the answer to op 1, the 4000 close after op 7) start then too.
// While the simulator does not read a frozen socket, the client's deadlines stand still: on the thaw
// every deadline (the next heartbeat, the answer to op 1) moves back by the length of the freeze, so
// heartbeats sitting unread in the kernel are never held against the client.

extension SimulatorCore {
    /// Sends `frame` on `conn`: written now, or held while the connection is frozen.
    func transmit(_ frame: OutboundFrame, on conn: SimulatedConnection) {
        guard conn.frozen else {
            write(frame, on: conn)
            return
        }
        conn.held.append(frame)
        conn.heldBytes += frame.byteCount
        if conn.heldBytes > configuration.freezeHeldBytesLimit {
            record(.session("frozen connection holds \(conn.heldBytes) bytes, over the limit of \(configuration.freezeHeldBytesLimit); TCP connection dropped"),
                   connection: conn)
            dropConnection(conn)
        }
    }

    /// Writes `frame` to the socket and logs it as sent.
    private func write(_ frame: OutboundFrame, on conn: SimulatedConnection) {
        switch frame.content {
        case .message(let bytes):
            record(.sent, connection: conn, session: frame.session, opcode: frame.opcode, eventName: frame.eventName,
                   sequence: frame.sequence, byteCount: bytes.count, text: frame.text)
            conn.write(bytes, framesPerCompressedMessage: configuration.zlibFramesPerMessage)
            if let session = frame.session, let sequence = frame.sequence, frame.opcode == 0 {
                ledger.written(session, sequence: sequence, replay: frame.isReplay)
                if frame.eventName == "READY" || frame.eventName == "RESUMED" {
                    ledger.ready(session.shardKey, connection: conn.id, resumed: frame.eventName == "RESUMED", now: now)
                }
            }
            switch frame.opcode {
            case 1?:
                // The client owes a heartbeat from the moment op 1 is on the socket.
                conn.requestedHeartbeatDeadline = now + Self.ms(2000)
                schedule(.requestedHeartbeatCheck(connectionID: conn.id), after: Self.ms(2000))
            case 7?:
                schedule(.closeConnection(connectionID: conn.id, code: 4000, reason: "reconnect requested"),
                         after: Self.ms(5000))
            default:
                break
            }
        case .close(let code, let reason):
            conn.endLogged = true
            ledger.connectionEnded(conn.id, now: now)
            // The log shows a close frame without a code as 1005, as RFC 6455 reports it.
            record(.closedByServer(code: code ?? 1005, reason: code == nil ? "" : SimulatedConnection.closeReason(reason)),
                   connection: conn)
            conn.writeClose(code: code, reason: reason)
        }
    }

    /// Stops reading `conn` and holds what is produced for it.
    func freeze(_ conn: SimulatedConnection) {
        guard !conn.frozen else { return }
        conn.frozenSince = now
        conn.channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    /// Writes what `conn` held, in order, reads again, and moves the client's deadlines back by the
    /// length of the freeze.
    func thaw(_ conn: SimulatedConnection) {
        guard let since = conn.frozenSince else { return }
        conn.frozenSince = nil
        let paused = now - since
        let held = conn.held
        conn.held = []
        conn.heldBytes = 0
        for frame in held { write(frame, on: conn) }
        guard conn.channel.isActive, !conn.endLogged else { return }
        conn.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
        conn.heartbeatDeadline += paused
        // A check that fired while frozen was dropped; re-arm it, or a silent client would never be
        // closed for its missed heartbeat.
        if !conn.heartbeatCheckScheduled {
            conn.heartbeatCheckScheduled = true
            schedule(.heartbeatCheck(connectionID: conn.id), after: max(0, conn.heartbeatDeadline - now))
        }
        if let deadline = conn.requestedHeartbeatDeadline {
            conn.requestedHeartbeatDeadline = deadline + paused
            schedule(.requestedHeartbeatCheck(connectionID: conn.id), after: max(0, deadline + paused - now))
        }
        let inbound = conn.heldInbound
        conn.heldInbound = []
        for frame in inbound { received(frame, on: conn) }
    }

    /// Forgets the frames `conn` held without writing them (the TCP connection is ending). An op 9
    /// among them ended a session the client never heard of: a RESUME of it is answered with op 9
    /// but not logged as a violation.
    func discardHeld(_ conn: SimulatedConnection) {
        for frame in conn.held {
            if let id = frame.invalidatedSessionID { rememberUnannouncedInvalidation(id) }
        }
        conn.held = []
        conn.heldBytes = 0
    }

    private func rememberUnannouncedInvalidation(_ id: String) {
        // Bounded: the oldest entries go first once there are too many.
        if unannouncedInvalidations.count >= 1024,
            let oldest = unannouncedInvalidations.min(by: { $0.value < $1.value })?.key
        {
            unannouncedInvalidations[oldest] = nil
        }
        unannouncedInvalidations[id] = now + Self.ms(configuration.sessionResumeWindowMilliseconds)
    }

    /// Whether `sessionID` names a session ended by an op 9 that never reached its client (and
    /// forgets it: one RESUME is excused, not every later one).
    func takeUnannouncedInvalidation(_ sessionID: String) -> Bool {
        guard let until = unannouncedInvalidations.removeValue(forKey: sessionID) else { return false }
        return now < until
    }
}
