import EchordModels
import NIOCore
import NIOWebSocket

/// A gateway session: what survives a dropped socket and can be resumed.
final class SimulatedSession {
    let id: String
    let token: String
    let botUserID: Snowflake
    let shardID: Int
    let shardCount: Int
    let intents: GatewayIntents
    let largeThreshold: Int
    /// The last sequence number handed out.
    var sequence = 0
    /// Dispatches kept for replay, oldest first: `(s, serialized payload)`.
    var replay: [(sequence: Int, bytes: [UInt8], eventName: String)] = []
    var replayHead = 0
    /// The connection currently serving the session.
    weak var connection: SimulatedConnection?
    /// Simulator time at which a detached session expires.
    var expiresAt: Int64?

    init(id: String, token: String, botUserID: Snowflake, identify: Identify) {
        self.id = id
        self.token = token
        self.botUserID = botUserID
        self.shardID = identify.shard?.shardID ?? 0
        self.shardCount = identify.shard?.shardCount ?? 1
        self.intents = identify.intents
        self.largeThreshold = min(max(identify.largeThreshold ?? 50, 50), 250)
    }

    var shardKey: ShardKey { ShardKey(shardID: shardID, shardCount: shardCount) }
    var scenarioKey: ScenarioKey { ScenarioKey(botUserID: botUserID, shardID: shardID) }

    func appendReplay(sequence: Int, bytes: [UInt8], eventName: String, limit: Int) {
        replay.append((sequence, bytes, eventName))
        if replay.count - replayHead > limit { replayHead += 1 }
        if replayHead > 1024 && replayHead * 2 > replay.count {
            replay.removeFirst(replayHead)
            replayHead = 0
        }
    }

    /// The dispatches after `sequence`, or nil when some of them are no longer kept.
    func dispatches(after sequence: Int) -> ArraySlice<(sequence: Int, bytes: [UInt8], eventName: String)>? {
        let kept = replay[replayHead...]
        if let first = kept.first, first.sequence > sequence + 1 { return nil }
        if kept.isEmpty && sequence < self.sequence { return nil }
        return kept.drop(while: { $0.sequence <= sequence })
    }
}

struct ShardKey: Hashable {
    let shardID: Int
    let shardCount: Int
}

struct ScenarioKey: Hashable {
    let botUserID: Snowflake
    let shardID: Int
}

/// One WebSocket connection to the simulated gateway.
final class SimulatedConnection {
    enum Phase {
        case awaitingIdentify
        case identified
        case closed
    }

    let id: Int
    let channel: NIOCore.Channel
    let path: String
    let isResumeURL: Bool
    let compression: TransportCompression
    let compressor: TransportCompressor?
    var phase: Phase = .awaitingIdentify
    var session: SimulatedSession?
    /// Simulator time by which the next heartbeat must arrive.
    var heartbeatDeadline: Int64 = 0
    var heartbeatCheckScheduled = false
    /// Times of the most recent client frames (a ring of `sendLimitFrames` entries).
    var recentFrameTimes: [Int64] = []
    var recentFrameNext = 0
    /// Faults in force.
    var acknowledgesHeartbeats = true
    /// Simulator time at which the connection was frozen, while it is.
    var frozenSince: Int64?
    var frozen: Bool { frozenSince != nil }
    /// Server frames produced while frozen, oldest first, waiting for the thaw.
    var held: [OutboundFrame] = []
    var heldBytes = 0
    /// Client frames read (from NIO's buffers) after the freeze, handled on the thaw.
    var heldInbound: [WebSocketFrame] = []
    /// Set after op 7 is produced: later dispatches go to the session's replay buffer only.
    var reconnectRequested = false
    /// Whether the log already has this connection's end (a close frame written, a drop, a
    /// client close).
    var endLogged = false
    /// A fragmented client message being assembled.
    var fragment: [UInt8]?
    var fragmentIsText = true
    /// Deadline for the heartbeat the simulator asked for with op 1, once that op 1 is on the socket.
    var requestedHeartbeatDeadline: Int64?

    init(id: Int, channel: NIOCore.Channel, path: String, isResumeURL: Bool, compression: TransportCompression) {
        self.id = id
        self.channel = channel
        self.path = path
        self.isResumeURL = isResumeURL
        self.compression = compression
        switch compression {
        case .none: compressor = nil
        case .zlibStream: compressor = ZlibStreamCompressor()
        case .zstdStream: compressor = ZstdRawStreamEncoder()
        }
    }

    var isOpen: Bool { phase != .closed }

    /// Records a client frame at `now`; returns false when it is one more than `limit` in `window`.
    func recordClientFrame(now: Int64, limit: Int, window: Int64) -> Bool {
        guard limit > 0 else { return true }
        if recentFrameTimes.count < limit {
            recentFrameTimes.append(now)
            return true
        }
        let oldest = recentFrameTimes[recentFrameNext]
        recentFrameTimes[recentFrameNext] = now
        recentFrameNext = (recentFrameNext + 1) % limit
        return now - oldest >= window
    }

    /// Writes one gateway message to the socket, compressed when the connection asked for it. Only
    /// the core calls it, once the message may reach the socket (see `SimulatorCore.transmit`).
    func write(_ message: [UInt8], framesPerCompressedMessage: Int) {
        let allocator = channel.allocator
        if let compressor {
            let bytes = compressor.compress(message)
            let pieces = compression == .zlibStream ? max(1, min(framesPerCompressedMessage, bytes.count)) : 1
            let size = (bytes.count + pieces - 1) / pieces
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + size, bytes.count)
                var buffer = allocator.buffer(capacity: end - offset)
                buffer.writeBytes(bytes[offset..<end])
                channel.write(WebSocketFrame(fin: true, opcode: .binary, data: buffer), promise: nil)
                offset = end
            }
            channel.flush()
        } else {
            var buffer = allocator.buffer(capacity: message.count)
            buffer.writeBytes(message)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: buffer), promise: nil)
        }
    }

    /// Writes a close frame and closes the TCP connection once it is written. `code` nil (and the
    /// codes RFC 6455 reserves for "no code" and abnormal ends, 1005, 1006 and 1015) sends a close
    /// frame without a code: those never go on the wire. `reason` is cut to the 123 bytes a control
    /// frame has room for.
    func writeClose(code: UInt16?, reason: String) {
        let code = code.flatMap { Self.codesNeverSent.contains($0) ? nil : $0 }
        let reason = code == nil ? [] : Array(Self.closeReason(reason).utf8)
        var buffer = channel.allocator.buffer(capacity: 2 + reason.count)
        if let code {
            buffer.writeInteger(code)
            buffer.writeBytes(reason)
        }
        let channel = self.channel
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Close codes RFC 6455 (7.4.1) forbids on the wire: 1005 (no code), 1006 (no close frame),
    /// 1015 (TLS failure).
    static let codesNeverSent: Set<UInt16> = [1005, 1006, 1015]

    /// `reason` cut at a character boundary to at most 123 UTF-8 bytes (a control frame carries at
    /// most 125 bytes, two of them the code).
    static func closeReason(_ reason: String) -> String {
        guard reason.utf8.count > 123 else { return reason }
        var out = ""
        var size = 0
        for character in reason {
            let length = character.utf8.count
            guard size + length <= 123 else { break }
            out.append(character)
            size += length
        }
        return out
    }

    /// Ends the TCP connection without a close frame.
    func drop() {
        phase = .closed
        held = []
        heldBytes = 0
        channel.close(promise: nil)
    }
}

/// A server frame on its way to a client: produced by the core, held while the connection is
/// frozen, logged as sent when it is written to the socket.
struct OutboundFrame {
    enum Content {
        /// A gateway payload (before compression).
        case message([UInt8])
        /// A close frame (nil: without a code), after which the TCP connection ends.
        case close(code: UInt16?, reason: String)
    }

    let content: Content
    /// The session the frame belongs to, for the log.
    var session: SimulatedSession?
    var opcode: Int?
    var eventName: String?
    var sequence: Int?
    /// The text for the log (only with `logServerPayloads`).
    var text: String?
    /// For an op 9 that ended a session: its id, so a RESUME of it is not blamed on a client that
    /// never got the op 9.
    var invalidatedSessionID: String?
    /// A dispatch written again (or late) because a RESUME asked for it.
    var isReplay = false

    /// What the frame weighs against the freeze limit.
    var byteCount: Int {
        switch content {
        case .message(let bytes): bytes.count
        case .close(_, let reason): 2 + reason.utf8.count
        }
    }
}
