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
    var frozen = false
    /// Set after op 7: dispatches go to the session's replay buffer only.
    var reconnectRequested = false
    /// A fragmented client message being assembled.
    var fragment: [UInt8]?
    var fragmentIsText = true
    /// Deadline for the heartbeat the simulator asked for with op 1, if one is outstanding.
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

    /// Sends one gateway message, compressed when the connection asked for it.
    func send(_ message: [UInt8], framesPerCompressedMessage: Int) {
        guard isOpen, !frozen else { return }
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

    /// Sends a close frame with `code` and closes the TCP connection once it is written.
    func close(code: UInt16, reason: String) {
        guard isOpen else { return }
        phase = .closed
        var buffer = channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        buffer.writeInteger(code)
        buffer.writeString(reason)
        let channel = self.channel
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: buffer)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    /// Ends the TCP connection without a close frame.
    func drop() {
        guard isOpen else { return }
        phase = .closed
        channel.close(promise: nil)
    }
}
