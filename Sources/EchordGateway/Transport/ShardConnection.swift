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
/// made with the first data frame (one ``GatewayInflater`` for the connection, whatever the
/// compression). The first thing it reports is ``DriverInput/opened(_:connection:)``, before any frame.
///
/// The `s` of accepted dispatches is left in the shard's ``SequenceMailbox`` once per read (at
/// `channelReadComplete`), or before any other input of this socket, without waking the main loop
/// (it takes the `s` before its next input; a read wakes it only once a session-save check is due,
/// every ``ShardConfiguration/sessionSaveInterval`` while events flow); a consumer waiting for
/// events is woken once per read, not once per event: a burst of dispatches costs the consumer one
/// wake-up and the main loop none. (Waking it only every few reads while the socket is backlogged
/// was measured, 2026-12-02: it saved the context switches, but the whole receive path was no
/// faster, since the consumer then decodes messages that are no longer in the cache.)
final class ShardChannelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    /// A dispatch the buffer had no room for, and the inputs to report once it is in.
    private struct Pending {
        var dispatch: GatewayDispatch
        var sequence: Int
        var then: [ShardStateMachine.Input]
    }

    private enum Outcome { case next, failed, paused }

    private let shard: Shard
    private let id: Int
    private let inputs: AsyncStream<DriverInput>.Continuation
    private var gate: ShardStateMachine.SequenceGate
    /// After a transport failure the socket is closing: nothing more is read from it.
    private var failed = false
    /// The end (a close frame, ours or the server's, or the channel's) was reported.
    private var endReported = false
    /// The main loop's close frame went out: the socket waits for the server's (see ``write(context:data:promise:)``).
    private var closeSent = false
    private var inactive = false
    /// The channel's loop, kept after the handler leaves the pipeline: a paused handler whose socket
    /// ended still hands its held frames to the buffer as the consumer makes room.
    private var eventLoop: (any EventLoop)?
    /// The connection's transport decompression, made with the first data frame.
    private var inflater: (any GatewayInflater)?
    /// The newest `s` accepted and not yet reported to the main loop.
    private var unreportedSequence: Int?
    /// Events were offered since the read began: the waiting consumer is woken at its end.
    private var readEndScheduled = false
    private var callbacks: (roomAvailable: @Sendable () -> Void, endOfRead: () -> Void)?
    private var pending: Pending?
    private var queued = CircularBuffer<WebSocketFrame>(initialCapacity: 0)
    /// A read the channel asked for while paused.
    private var readWanted = false
    private var context: ChannelHandlerContext?
    /// Without a channel (``ReceivePathHarness``): the loop the handler runs on, and what asks for
    /// the next read once a paused handler has room again.
    private var detachedLoop: (any EventLoop)?
    private var resumeReading: (() -> Void)?

    private var logger: Logger { shard.logger }

    init(shard: Shard, id: Int, inputs: AsyncStream<DriverInput>.Continuation, lastSequence: Int?) {
        self.shard = shard
        self.id = id
        self.inputs = inputs
        self.gate = ShardStateMachine.SequenceGate(last: lastSequence)
    }

    private func input(_ input: ShardStateMachine.Input) {
        reportSequence()
        inputs.yield(.machine(input, connection: id))
    }

    /// Leaves the newest accepted `s` for the main loop, if it has not been left yet (the main loop
    /// takes it before its next input; it is woken only once a session-save check is due).
    private func reportSequence() {
        guard let sequence = unreportedSequence else { return }
        unreportedSequence = nil
        if shard.sequences.post(sequence, connection: id, now: shard.clock.now) {
            inputs.yield(.sequenceReported(connection: id))
        }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
        inputs.yield(.opened(context.channel, connection: id))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        callbacks = nil  // they hold the handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if closeSent {
            // After our close frame only the server's answer matters: then the socket can go.
            if frame.opcode == .connectionClose { context.close(promise: nil) }
            return
        }
        if pending != nil || !queued.isEmpty {
            queued.append(frame)
            return
        }
        if handle(frame, context: context) == .paused { return }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        endOfRead()
        context.fireChannelReadComplete()
    }

    /// The end of a read: the main loop hears the newest `s`, a waiting consumer gets the events.
    private func endOfRead() {
        reportSequence()
        if readEndScheduled {
            readEndScheduled = false
            shard.buffer.wakeConsumer()
        }
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
        endOfRead()
        if pending == nil && queued.isEmpty { reportEnd(code: nil) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("read failed", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// How long a socket that sent its close frame waits for the server to end the connection.
    static let closeHandshakeLimit = TimeAmount.seconds(2)

    /// The main loop's close frame ends the connection for the shard here, on the loop that reads it:
    /// nothing read after it is delivered (a held dispatch and queued frames are dropped: their `s`
    /// was not accepted, so a resume replays them), and the end is reported at once. The socket then
    /// stays open until the server answers with its close frame or ends the connection, at most
    /// ``closeHandshakeLimit`` (RFC 6455 §7.1.1: the server ends the TCP connection). Closing it at
    /// once could leave unread bytes in the receive buffer, which makes the kernel answer with a
    /// reset, and a server that sees the reset before the close frame never reads the close code.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if !closeSent, unwrapOutboundIn(data).opcode == .connectionClose {
            closeSent = true
            pending = nil
            queued.removeAll()
            reportEnd(code: nil)
            let channel = context.channel
            let limit = context.eventLoop.scheduleTask(in: Self.closeHandshakeLimit) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in limit.cancel() }
            if readWanted {  // paused on a full buffer: read on, to see the server's answer
                readWanted = false
                context.read()
            }
        }
        context.write(data, promise: promise)
    }

    private func reportEnd(code: UInt16?) {
        guard !endReported else { return }
        endReported = true
        input(.closed(code: code))
    }

    // MARK: Frames

    private func handle(_ frame: WebSocketFrame, context: ChannelHandlerContext?) -> Outcome {
        guard !endReported else { return .next }  // nothing after the server's close frame
        switch frame.opcode {
        case .text, .binary:
            guard !failed else { return .next }
            let data = frame.unmaskedData
            shard.metrics.countBytesIn(data.readableBytes)
            if frame.opcode == .text && !data.readableBytesView.isValidUTF8 {
                // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection (1007).
                failed = true
                logger.error("text frame with invalid UTF-8", metadata: ["bytes": "\(data.readableBytes)"])
                input(.transportFailed(.invalidUTF8))
                return .failed
            }
            let message: [UInt8]?
            do {
                // The frame's bytes are read where NIO put them.
                message = try connectionInflater().feed(data)
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
            context?.writeAndFlush(
                wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        default:
            break
        }
        return .next
    }

    /// The connection's inflater (made on first use): one per connection, chosen by its compression.
    private func connectionInflater() -> any GatewayInflater {
        if let inflater { return inflater }
        let configuration = shard.configuration
        let made = GatewayInflaters.make(for: configuration.compression, maxMessageSize: configuration.maxDecompressedMessageSize)
        inflater = made
        return made
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
        if shard.logger.logLevel <= .trace {  // read in place: the `logger` property copies the handler
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
        shard.metrics.countEvent()
        switch gate.check(sequence: envelope.sequence, eventName: envelope.eventName) {
        case .accept(let sequence):
            let then = accepted()
            // The kind is looked up once, for the subscription and for the consumer's decode.
            let dispatch = GatewayDispatch(shardID: shard.configuration.shardID, envelope: envelope)
            if ShardStateMachine.delivers(dispatch, subscription: shard.configuration.eventSubscription) {
                if !offer(Pending(dispatch: dispatch, sequence: sequence, then: then)) { return .paused }
            }
            dispatchAccepted(sequence, then: then)
        case .acceptWithoutName(let sequence):
            logger.warning("dispatch without an event name skipped", metadata: ["sequence": "\(sequence)"])
            unreportedSequence = sequence
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

    /// Records an accepted dispatch's `s` (reported with the read's others), then reports `then`.
    private func dispatchAccepted(_ sequence: Int, then: [ShardStateMachine.Input]) {
        unreportedSequence = sequence
        then.forEach(input)
    }

    // MARK: Without a channel

    /// One read's frames handed over as NIO does on a socket (each frame, then the read's end), on
    /// `eventLoop`, without a channel (``ReceivePathHarness``). Returns false when the handler
    /// paused on a full event buffer: it calls `resume` once it wants the next read.
    func readWithoutChannel(_ frames: [WebSocketFrame], on eventLoop: any EventLoop, resume: @escaping () -> Void) -> Bool {
        detachedLoop = eventLoop
        for frame in frames {
            if pending != nil || !queued.isEmpty {
                queued.append(frame)
            } else {
                _ = handle(frame, context: nil)
            }
        }
        endOfRead()  // channelReadComplete
        guard pending != nil else { return true }
        readWanted = true
        resumeReading = resume
        return false
    }

    /// The end of a run without a channel: what handlerRemoved does.
    func detach() {
        callbacks = nil
        detachedLoop = nil
        resumeReading = nil
    }

    // MARK: Back-pressure

    /// Offers the dispatch to the event buffer; false when it is full (then it is kept, and reading
    /// stops until the buffer calls back).
    private func offer(_ item: Pending) -> Bool {
        guard let callbacks = loopCallbacks() else { return true }
        let result = shard.buffer.offer(item.dispatch, deferringWake: true, onRoom: callbacks.roomAvailable)
        if result == .accepted && !readEndScheduled {
            // channelReadComplete ends the read; this runs after it on the loop should none come.
            readEndScheduled = true
            callbacks.endOfRead()
        }
        if result == .full {
            pending = item
            return false
        }
        return true
    }

    /// What the event buffer and the loop call back (made once per connection, not per event; they
    /// hold the handler until it is removed from the pipeline).
    private func loopCallbacks() -> (roomAvailable: @Sendable () -> Void, endOfRead: () -> Void)? {
        if let callbacks { return callbacks }
        guard let eventLoop = eventLoop ?? detachedLoop else { return nil }
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let made: (roomAvailable: @Sendable () -> Void, endOfRead: () -> Void) = (
            { eventLoop.execute { handler.value.roomAvailable() } },
            { eventLoop.execute { handler.value.endOfRead() } }
        )
        callbacks = made
        return made
    }

    /// The buffer has room: the held dispatch goes in, then the queued frames, then reading resumes
    /// (once a socket that ended has handed over all it read, its end is reported).
    private func roomAvailable() {
        guard let held = pending, context != nil || detachedLoop != nil || inactive else { return }
        pending = nil
        guard offer(held) else { return }
        dispatchAccepted(held.sequence, then: held.then)
        while pending == nil, let frame = queued.popFirst() {
            _ = handle(frame, context: context)
        }
        endOfRead()
        guard pending == nil else { return }
        if inactive {
            reportEnd(code: nil)
            if context == nil { callbacks = nil }  // out of the pipeline: they hold the handler
            return
        }
        if readWanted {
            readWanted = false
            if let context { context.read() } else { resumeReading?() }
        }
    }
}

extension ByteBufferView {
    /// Whether the bytes are well-formed UTF-8.
    var isValidUTF8: Bool {
        withUnsafeBytes { UTF8Validation.isValid($0) }
    }
}
