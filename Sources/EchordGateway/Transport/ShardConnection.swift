import EchordModels
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

enum WebSocketFrameFactory {
    static func close(_ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
    }
}

/// The receive side of one socket of a shard, in the channel's pipeline: it inflates each message,
/// scans its envelope, passes dispatches through the connection's sequence gate into the shard's
/// event buffer, and hands protocol inputs to the shard's main loop. No task reads the socket.
///
/// When the event buffer is full the handler stops asking the channel to read (and queues the few
/// frames already read) until the consumer makes room: the shard stops reading its socket, as
/// before, and heartbeats go on (they are written by the main loop). The compression context is
/// made with the first compressed message. The first thing it reports is ``DriverInput/opened(_:connection:)``,
/// before any frame.
final class ShardChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// A dispatch the buffer had no room for, and the inputs to report once it is in.
    private struct Pending {
        var dispatch: GatewayDispatch
        var then: [ShardStateMachine.Input]
    }

    private enum Outcome { case next, failed, paused }

    private let shard: Shard
    private let id: Int
    private let inputs: AsyncStream<DriverInput>.Continuation
    private var gate: ShardStateMachine.SequenceGate
    /// After a transport failure the socket is closing: nothing more is read from it.
    private var failed = false
    /// The end (a close frame, or the channel's) was reported.
    private var endReported = false
    private var inactive = false
    private var zlib: ZlibStreamInflater?
    #if Zstd
    private var zstd: ZstdStreamInflater?
    #endif
    private var pending: Pending?
    private var queued = CircularBuffer<WebSocketFrame>(initialCapacity: 0)
    /// A read the channel asked for while paused.
    private var readWanted = false
    private var context: ChannelHandlerContext?

    private var logger: Logger { shard.logger }

    init(shard: Shard, id: Int, inputs: AsyncStream<DriverInput>.Continuation, lastSequence: Int?) {
        self.shard = shard
        self.id = id
        self.inputs = inputs
        self.gate = ShardStateMachine.SequenceGate(last: lastSequence)
    }

    private func input(_ input: ShardStateMachine.Input) {
        inputs.yield(.machine(input, connection: id))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        inputs.yield(.opened(context.channel, connection: id))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if pending != nil || !queued.isEmpty {
            queued.append(frame)
            return
        }
        if handle(frame, context: context) == .paused { return }
    }

    func read(context: ChannelHandlerContext) {
        if pending != nil {
            readWanted = true
            return
        }
        context.read()
    }

    func channelInactive(context: ChannelHandlerContext) {
        inactive = true
        if pending == nil && queued.isEmpty { reportEnd(code: nil) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("read failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    private func reportEnd(code: UInt16?) {
        guard !endReported else { return }
        endReported = true
        input(.closed(code: code))
    }

    // MARK: Frames

    private func handle(_ frame: WebSocketFrame, context: ChannelHandlerContext) -> Outcome {
        guard !endReported else { return .next }  // nothing after the server's close frame
        switch frame.opcode {
        case .text, .binary:
            guard !failed else { return .next }
            var data = frame.unmaskedData
            let bytes = data.readBytes(length: data.readableBytes) ?? []
            shard.metrics.bytesIn.increment(by: Int64(bytes.count))
            if frame.opcode == .text && !bytes.isValidUTF8 {
                // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection (1007).
                failed = true
                logger.error("text frame with invalid UTF-8", metadata: ["bytes": "\(bytes.count)"])
                input(.transportFailed(.invalidUTF8))
                return .failed
            }
            let message: [UInt8]?
            do {
                message = try inflate(bytes)
            } catch {
                // The compression context is unusable: the socket must go.
                failed = true
                logger.error("transport decompression failed", metadata: ["error": "\(error)"])
                input(.transportFailed(.decompression("\(error)")))
                return .failed
            }
            guard let message else { return .next }
            let outcome = process(message)
            if outcome == .failed { failed = true }
            return outcome
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readInteger(as: UInt16.self)
            logger.debug("server closed", metadata: ["code": "\(code.map(String.init) ?? "none")"])
            reportEnd(code: code)
        case .ping:
            context.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        default:
            break
        }
        return .next
    }

    /// The message of `bytes`: inflated with the connection's context (made on first use), or
    /// `bytes` without compression; nil while a message is incomplete.
    private func inflate(_ bytes: [UInt8]) throws -> [UInt8]? {
        let configuration = shard.configuration
        switch configuration.compression {
        case .zlibStream:
            let zlib = self.zlib ?? ZlibStreamInflater(maxMessageSize: configuration.maxDecompressedMessageSize)
            self.zlib = zlib
            return try zlib.feed(bytes)
        #if Zstd
        case .zstdStream:
            let zstd = self.zstd ?? ZstdStreamInflater(maxMessageSize: configuration.maxDecompressedMessageSize)
            self.zstd = zstd
            return try zstd.feed(bytes)
        #endif
        default:
            return bytes
        }
    }

    /// Decodes one message and reports it.
    private func process(_ message: [UInt8]) -> Outcome {
        let inbound: GatewayInbound
        do {
            inbound = try GatewayInbound(decoding: message)
        } catch {
            shard.metrics.decodeFailures.increment()
            switch error {
            case .envelope:
                logger.warning("undecodable gateway message skipped", metadata: [
                    "error": "\(error)", "bytes": "\(message.count)",
                ])
                return .next
            case .hello, .ready:
                logger.error("gateway message unusable", metadata: ["error": "\(error)"])
                input(.transportFailed(.unreadableMessage(error.description)))
                return .failed
            }
        }
        if logger.logLevel <= .trace {
            logger.trace("<- \(inbound.summary.escapedForLog())",
                         metadata: ["payload": "\(String(decoding: message.prefix(2048), as: UTF8.self).escapedForLog(limit: 2048))"])
        }
        switch inbound {
        case .dispatch(let envelope):
            if envelope.eventName == "RESUMED" {
                return deliver(envelope) {
                    logger.info("resumed", metadata: ["sequence": "\(envelope.sequence.map(String.init) ?? "-")"])
                    return [.resumed]
                }
            }
            return deliver(envelope) { [] }
        case .ready(let envelope, let sessionID, let resumeGatewayURL):
            return deliver(envelope) {
                logger.info("ready", metadata: ["session": "\(sessionID.escapedForLog())"])
                return [.ready(sessionID: sessionID, resumeGatewayURL: resumeGatewayURL)]
            }
        case .heartbeatRequest:
            input(.heartbeatRequested)
        case .reconnect:
            input(.reconnectRequested)
        case .invalidSession(let resumable):
            input(.invalidSession(resumable: resumable))
        case .hello(let interval):
            input(.hello(heartbeatInterval: interval))
        case .heartbeatAck:
            input(.heartbeatAck)
        case .unexpected(let opcode):
            logger.debug("unexpected opcode ignored", metadata: ["op": "\(opcode.rawValue)"])
        }
        return .next
    }

    /// Passes a dispatch through the connection's sequence gate, to the user when subscribed, and
    /// reports it, then what `accepted` returns (only when it was accepted in order). Paused when
    /// the buffer is full: the rest happens once it has room.
    private func deliver(_ envelope: GatewayEnvelope, accepted: () -> [ShardStateMachine.Input]) -> Outcome {
        shard.metrics.events.increment()
        switch gate.check(sequence: envelope.sequence, eventName: envelope.eventName) {
        case .accept(let sequence):
            let then = [ShardStateMachine.Input.dispatch(sequence: sequence)] + accepted()
            if ShardStateMachine.delivers(eventName: envelope.eventName ?? "", subscription: shard.configuration.eventSubscription) {
                let dispatch = GatewayDispatch(shardID: shard.configuration.shardID, envelope: envelope)
                if !offer(Pending(dispatch: dispatch, then: then)) { return .paused }
            }
            then.forEach(input)
        case .acceptWithoutName(let sequence):
            logger.warning("dispatch without an event name skipped", metadata: ["sequence": "\(sequence)"])
            input(.dispatch(sequence: sequence))
        case .skipInvalidSequence(let sequence):
            logger.warning("dispatch with a missing or negative sequence skipped", metadata: [
                "sequence": "\(sequence.map(String.init) ?? "null")", "event": "\((envelope.eventName ?? "-").escapedForLog())",
            ])
        case .broken(let broken):
            logger.warning("dispatch sequence broken: resuming from the last contiguous one", metadata: [
                "break": "\(broken)", "event": "\((envelope.eventName ?? "-").escapedForLog())",
            ])
            input(.sequenceBroken(broken))
        case .dropAfterBreak:
            logger.debug("dispatch after a sequence break dropped (it will be replayed)", metadata: [
                "sequence": "\(envelope.sequence.map(String.init) ?? "null")",
            ])
        }
        return .next
    }

    // MARK: Back-pressure

    /// Offers the dispatch to the event buffer; false when it is full (then it is kept, and reading
    /// stops until the buffer calls back).
    private func offer(_ item: Pending) -> Bool {
        guard let eventLoop = context?.eventLoop else { return true }
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let result = shard.buffer.offer(item.dispatch) {
            eventLoop.execute { handler.value.roomAvailable() }
        }
        if result == .full {
            pending = item
            return false
        }
        return true
    }

    /// The buffer has room: the held dispatch goes in, then the queued frames, then reading resumes.
    private func roomAvailable() {
        guard let held = pending, let context else { return }
        pending = nil
        guard offer(held) else { return }
        held.then.forEach(input)
        while pending == nil, let frame = queued.popFirst() {
            _ = handle(frame, context: context)
        }
        guard pending == nil else { return }
        if inactive { reportEnd(code: nil) }
        if readWanted {
            readWanted = false
            context.read()
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether the bytes are well-formed UTF-8.
    var isValidUTF8: Bool {
        !transcode(makeIterator(), from: UTF8.self, to: UTF32.self, stoppingOnError: true, into: { _ in })
    }
}
