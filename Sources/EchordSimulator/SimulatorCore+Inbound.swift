import EchordModels
import Foundation
import NIOCore
import NIOWebSocket

extension SimulatorCore {
    /// A WebSocket frame arrived from the client.
    func received(_ frame: WebSocketFrame, on conn: SimulatedConnection) {
        guard conn.isOpen else { return }
        if conn.frozen {
            // Read from NIO's buffer after the freeze: handled on the thaw, never skipped.
            conn.heldInbound.append(frame)
            return
        }
        // RFC 6455 5.1-5.2: client frames are masked, no extension was negotiated (no RSV bit), and
        // opcodes 3-7 and 0xB-0xF are reserved.
        guard frame.maskKey != nil else {
            violation("unmasked client frame", on: conn, close: 1002, reason: "Protocol error")
            return
        }
        guard !(frame.rsv1 || frame.rsv2 || frame.rsv3) else {
            violation("frame with an RSV bit set (no extension negotiated)", on: conn, close: 1002, reason: "Protocol error")
            return
        }
        switch frame.opcode {
        case .ping:
            var data = frame.unmaskedData
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: data.readSlice(length: data.readableBytes)!)
            conn.channel.writeAndFlush(pong, promise: nil)
        case .pong:
            break
        case .connectionClose:
            clientClosed(conn, body: frame.unmaskedData)
        case .text, .binary, .continuation:
            var data = frame.unmaskedData
            if frame.opcode == .continuation {
                guard conn.fragment != nil else {
                    violation("continuation frame without a first fragment", on: conn, close: 4002)
                    return
                }
            } else {
                if conn.fragment != nil {
                    violation("new message before the last fragmented one ended", on: conn, close: 4002)
                    return
                }
                conn.fragment = []
                conn.fragmentIsText = frame.opcode == .text
            }
            conn.fragment!.append(contentsOf: data.readBytes(length: data.readableBytes) ?? [])
            if conn.fragment!.count > configuration.maxClientFrameBytes {
                let size = conn.fragment!.count
                conn.fragment = nil
                violation("frame of \(size)+ bytes is over \(configuration.maxClientFrameBytes)", on: conn, close: 4002)
                return
            }
            if frame.fin {
                let message = conn.fragment!
                conn.fragment = nil
                // RFC 6455 8.1: a text message (all its fragments together) is UTF-8.
                if conn.fragmentIsText && String(validating: message, as: UTF8.self) == nil {
                    violation("text message is not valid UTF-8", on: conn, close: 1007, reason: "Invalid frame payload data")
                    return
                }
                handleMessage(message, on: conn)
            }
        default:
            violation("reserved opcode \(frame.opcode)", on: conn, close: 1002, reason: "Protocol error")
        }
    }

    /// Close codes a client may put in a close frame (RFC 6455 7.4): the defined ones and the
    /// registered/private ranges. 1005, 1006 and 1015 are read as "no code".
    private static func isSendableCloseCode(_ code: UInt16) -> Bool {
        (1000...1003).contains(code) || (1007...1014).contains(code) || (3000...4999).contains(code)
    }

    private func clientClosed(_ conn: SimulatedConnection, body: ByteBuffer) {
        var body = body
        guard body.readableBytes != 1 else {
            violation("close frame with a 1-byte body", on: conn, close: 1002, reason: "Protocol error")
            return
        }
        let code: UInt16? = body.readInteger(as: UInt16.self)
        if let code, !Self.isSendableCloseCode(code), !SimulatedConnection.codesNeverSent.contains(code) {
            violation("close code \(code) is not one an endpoint may send", on: conn, close: 1002, reason: "Protocol error")
            return
        }
        guard String(validating: body.readableBytesView, as: UTF8.self) != nil else {
            violation("close reason is not valid UTF-8", on: conn, close: 1007, reason: "Invalid frame payload data")
            return
        }
        record(.closedByClient(code: code), connection: conn)
        if let code, code == 1000 || code == 1001, let session = conn.session {
            record(.session("ended by client close \(code)"), connection: conn)
            removeSession(session, reason: .clientClosed(code))
        }
        // Echo the close, as RFC 6455 asks (without a code when the client sent none, or one of the
        // codes that never go on the wire), then end the TCP connection.
        conn.phase = .closed
        conn.endLogged = true
        ledger.connectionEnded(conn.id, now: now)
        conn.writeClose(code: code, reason: "")
    }

    /// One complete client message.
    func handleMessage(_ message: [UInt8], on conn: SimulatedConnection) {
        let now = self.now
        let text = String(decoding: message, as: UTF8.self)
        let envelope = try? decoder.decode(ClientEnvelope.self, from: Data(message))
        var logged = text
        if case .object(let fields)? = envelope?.d, case .string(let token)? = fields["token"], !token.isEmpty {
            logged = BotToken.redacting(token, in: text)
        }
        record(.received, connection: conn, opcode: envelope?.op, byteCount: message.count, text: logged)

        guard conn.recordClientFrame(
            now: now, limit: configuration.sendLimitFrames, window: Self.ms(configuration.sendLimitWindowMilliseconds))
        else {
            violation("more than \(configuration.sendLimitFrames) frames in \(configuration.sendLimitWindowMilliseconds) ms",
                      on: conn, close: 4008)
            return
        }
        guard let envelope else {
            violation("frame is not a JSON object with an integer op", on: conn, close: 4002)
            return
        }
        let op = envelope.op
        let opcode = GatewayOpcode(rawValue: op)
        guard opcode.isSentByClient else {
            violation("unknown or server-only opcode \(op)", on: conn, close: 4001)
            return
        }
        switch opcode {
        case .heartbeat:
            heartbeat(d: envelope.d, on: conn)
        case .identify:
            guard conn.phase == .awaitingIdentify else {
                violation("IDENTIFY on a connection that already has a session", on: conn, close: 4005)
                return
            }
            identify(message, on: conn)
        case .resume:
            guard conn.phase == .awaitingIdentify else {
                violation("RESUME on a connection that already has a session", on: conn, close: 4005)
                return
            }
            resume(message, on: conn)
        default:
            guard conn.phase == .identified, let session = conn.session else {
                violation("op \(op) before IDENTIFY or RESUME", on: conn, close: 4003)
                return
            }
            command(opcode, message: message, session: session, on: conn)
        }
    }

    private func heartbeat(d: JSONValue?, on conn: SimulatedConnection) {
        switch d {
        case nil, .null?:
            break
        case .number(let number)? where number.rounded() == number:
            if let session = conn.session {
                // A number no Int holds (1e300) is ahead of every session.
                let acknowledged = Int(exactly: number) ?? Int.max
                if acknowledged > session.sequence {
                    record(.violation(rule: "heartbeat seq \(number) is ahead of the session's \(session.sequence)",
                                      closeCode: nil), connection: conn)
                } else {
                    ledger.acknowledged(session, upTo: acknowledged)
                }
            }
        default:
            violation("heartbeat d must be the last sequence number or null", on: conn, close: 4001)
            return
        }
        conn.heartbeatDeadline = now + grace(heartbeatInterval)
        if !conn.heartbeatCheckScheduled {
            conn.heartbeatCheckScheduled = true
            schedule(.heartbeatCheck(connectionID: conn.id), after: conn.heartbeatDeadline - now)
        }
        if conn.acknowledgesHeartbeats {
            sendControl(.object([("t", nil), ("s", nil), ("op", 11), ("d", nil)]), opcode: 11, on: conn)
        }
        if conn.requestedHeartbeatDeadline != nil {
            conn.requestedHeartbeatDeadline = nil
            scenarioHeartbeatAnswered(on: conn)
        }
    }

    private func decodeOrClose<T: Decodable>(_ type: T.Type, _ message: [UInt8], on conn: SimulatedConnection) -> T? {
        do {
            let payload = try decoder.decode(ClientPayload<T>.self, from: Data(message))
            guard let data = payload.d else { throw DecodingError.valueNotFound(T.self, .init(codingPath: [], debugDescription: "d is null")) }
            return data
        } catch {
            violation("invalid \(T.self) payload: \(Self.clipped(Self.describe(error), to: 200))",
                      on: conn, close: 4001, reason: "Invalid \(T.self) payload")
            return nil
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "\(path.isEmpty ? "" : path + ": ")\(context.debugDescription)"
        default:
            return "\(error)"
        }
    }

    // MARK: Identify

    private func identify(_ message: [UInt8], on conn: SimulatedConnection) {
        guard let identify = decodeOrClose(Identify.self, message, on: conn) else { return }
        let token = identify.token.rawValue
        guard tokenIsAccepted(token), let botUserID = BotToken(token).botUserID ?? acceptedTokenUserID(token) else {
            violation("IDENTIFY with an invalid token", on: conn, close: 4004)
            return
        }
        let intents = identify.intents
        guard GatewayIntents.documented.isSuperset(of: intents) else {
            violation("intents \(intents.rawValue) have undocumented bits", on: conn, close: 4013)
            return
        }
        let disallowed = intents.intersection(.privileged).subtracting(configuration.enabledPrivilegedIntents)
        guard disallowed.isEmpty else {
            violation("privileged intents not enabled: \(disallowed.names.joined(separator: ","))", on: conn, close: 4014)
            return
        }
        if let shard = identify.shard {
            guard shard.shardCount >= 1, shard.shardID >= 0, shard.shardID < shard.shardCount else {
                violation("invalid shard [\(shard.shardID), \(shard.shardCount)]", on: conn, close: 4010)
                return
            }
        }
        let shardID = identify.shard?.shardID ?? 0
        let shardCount = identify.shard?.shardCount ?? 1
        let guildCount = world.guildCount(shardID: shardID, shardCount: shardCount)
        guard guildCount <= configuration.maxGuildsPerShard else {
            violation("shard would hold \(guildCount) guilds (limit \(configuration.maxGuildsPerShard))",
                      on: conn, close: 4011)
            return
        }
        let now = self.now
        if now >= sessionStartWindowEnd {
            sessionStartsRemaining = configuration.sessionStartLimitTotal
            sessionStartWindowEnd = now + Self.ms(configuration.sessionStartLimitResetMilliseconds)
        }
        guard sessionStartsRemaining > 0 else {
            record(.violation(rule: "session_start_limit exhausted", closeCode: nil), connection: conn)
            sendControl(.object([("t", nil), ("s", nil), ("op", 9), ("d", false)]), opcode: 9, on: conn)
            return
        }
        let bucket = BucketKey(botUserID: botUserID, bucket: shardID % max(configuration.maxConcurrency, 1))
        if let last = identifyBuckets[bucket], now - last < Self.ms(configuration.identifyBucketMilliseconds) {
            record(.violation(
                rule: "IDENTIFY for shard \(shardID) within \(configuration.identifyBucketMilliseconds) ms of the last one in bucket \(bucket.bucket)",
                closeCode: nil), connection: conn)
            sendControl(.object([("t", nil), ("s", nil), ("op", 9), ("d", false)]), opcode: 9, on: conn)
            return
        }
        identifyBuckets[bucket] = now
        sessionStartsRemaining -= 1

        let session = SimulatedSession(id: newSessionID(), token: token, botUserID: botUserID, identify: identify)
        addSession(session)
        ledger.identified(session)
        conn.session = session
        conn.phase = .identified
        session.connection = conn
        record(.session("created by IDENTIFY, bucket \(bucket.bucket)"), connection: conn)
        let guilds = world.guilds(shardID: shardID, shardCount: shardCount)
        // READY's documented keys only (Discord also sends undocumented ones such as `_trace`).
        var ready: [(String, SimulatorJSON)] = [
            ("v", 10), ("user", SimulatorWorld.botUser(id: botUserID)), ("session_id", .string(session.id)),
            ("resume_gateway_url", .string(resumeGatewayURL)),
            ("guilds", .array(guilds.map { .object([("id", .string($0.id.description)), ("unavailable", true)]) })),
            ("application", .object([("id", .string(botUserID.description)), ("flags", 565248)])),
        ]
        if let shard = identify.shard {
            ready.append(("shard", [.int(Int64(shard.shardID)), .int(Int64(shard.shardCount))]))
        }
        dispatch("READY", json: .object(ready), to: session)
        if intents.contains(.guilds) {
            for guild in guilds {
                dispatch("GUILD_CREATE", json: world.guildCreate(
                    guild, botUserID: botUserID, intents: intents, largeThreshold: session.largeThreshold), to: session)
            }
        }
        scenarioSessionReady(session)
    }

    private func acceptedTokenUserID(_ token: String) -> Snowflake? {
        configuration.acceptedTokens.contains(token) ? Snowflake(rawValue: 1_191_168_914_227_331_073) : nil
    }

    // MARK: Resume

    private func resume(_ message: [UInt8], on conn: SimulatedConnection) {
        guard let resume = decodeOrClose(Resume.self, message, on: conn) else { return }
        guard tokenIsAccepted(resume.token.rawValue) else {
            violation("RESUME with an invalid token", on: conn, close: 4004)
            return
        }
        guard let session = sessions[resume.sessionID], session.token == resume.token.rawValue else {
            if takeUnannouncedInvalidation(resume.sessionID) {
                // Its op 9 never reached the client: resuming is what the client had to do.
                record(.session("RESUME of a session whose op 9 never reached the client"), connection: conn)
            } else {
                record(.violation(rule: "RESUME of an unknown or expired session", closeCode: nil), connection: conn)
            }
            sendControl(.object([("t", nil), ("s", nil), ("op", 9), ("d", false)]), opcode: 9, on: conn)
            return
        }
        guard resume.sequence <= session.sequence, let missed = session.dispatches(after: resume.sequence) else {
            conn.session = session
            violation("RESUME with seq \(resume.sequence); the session is at \(session.sequence)", on: conn, close: 4007)
            conn.session = nil
            return
        }
        if !conn.isResumeURL {
            record(.violation(rule: "RESUME not on resume_gateway_url", closeCode: nil), connection: conn)
        }
        if let old = session.connection, old !== conn {
            old.session = nil
            dropConnection(old)
        }
        session.connection = conn
        session.expiresAt = nil
        conn.session = session
        conn.phase = .identified
        record(.session("resumed from seq \(resume.sequence), replaying \(missed.count)"), connection: conn)
        ledger.resumed(session, from: resume.sequence)
        for event in missed {
            transmit(OutboundFrame(
                content: .message(event.bytes), session: session, opcode: 0, eventName: event.eventName,
                sequence: event.sequence, text: serverText(event.bytes), isReplay: true), on: conn)
        }
        dispatch("RESUMED", json: .object([]), to: session)
        scenarioSessionResumed(session)
    }
}

/// The part of a client frame read before its opcode is known.
struct ClientEnvelope: Decodable {
    let op: Int
    let d: JSONValue?
}

/// A client frame's `d`, decoded as `T`.
struct ClientPayload<T: Decodable>: Decodable {
    let d: T?
}
