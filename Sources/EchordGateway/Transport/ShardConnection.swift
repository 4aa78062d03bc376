import EchordModels
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// What the main loop asks of the current socket.
enum ConnectionCommand: Sendable {
    case heartbeat([UInt8])
    case identify([UInt8])
    case identifyGranted([UInt8])
    /// The wait for the identify turn ended (granted or not) before the socket opened.
    case identifyTurnWaitEnded
    case resume([UInt8])
    case command(id: Int, bytes: [UInt8], opcode: Int)
    case pump
    case close(code: UInt16)
}

enum WebSocketFrameFactory {
    static func close(_ data: ByteBuffer) -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)
    }
}

/// One socket of a shard: connects, then reads (reader child task) and writes (this task) until the
/// main loop finishes its command stream.
struct ConnectionRunner: Sendable {
    let shard: Shard
    let url: GatewayURL
    let id: Int
    let inputs: AsyncStream<DriverInput>.Continuation
    let selfCommands: AsyncStream<ConnectionCommand>.Continuation
    let channel: NIOLockedValueBox<NIOCore.Channel?>
    /// Where the connection's sequence check starts (nil for a new session).
    let lastSequence: Int?
    /// The identify turn this socket holds until its IDENTIFY is written (then reported sent) or
    /// the socket ends without one (then reported abandoned).
    let turn = NIOLockedValueBox<IdentifyTurn?>(nil)

    var logger: Logger { shard.logger }

    private func input(_ input: ShardStateMachine.Input) {
        inputs.yield(.machine(input, connection: id))
    }

    /// - Parameter identifies: the socket will IDENTIFY (no session to resume), so it opens only once
    ///   the identify queue grants the turn: a queued shard holds no socket.
    func run(commands: AsyncStream<ConnectionCommand>, identifies: Bool) async {
        if identifies {
            guard await waitForIdentifyTurn(commands) else {
                input(.connectFailed(.connectionFailed("no identify turn")))
                return
            }
        }
        let socket: GatewayTransport.WebSocket
        do {
            socket = try await GatewayTransport.connect(
                to: url, compression: shard.configuration.compression, configuration: shard.configuration.transport,
                trustRoots: shard.configuration.additionalTrustRoots)
        } catch {
            await abandonTurn()
            let failure = error as? GatewayTransportError ?? .connectionFailed("\(error)")
            if case .tlsFailed = failure {
                // Not a network blip: a configuration problem the operator must see.
                logger.warning("TLS handshake failed; the shard keeps retrying", metadata: [
                    "url": "\("\(url)".escapedForLog())", "error": "\("\(failure)".escapedForLog())",
                ])
            }
            input(.connectFailed(failure))
            return
        }
        channel.withLockedValue { $0 = socket.channel }
        logger.debug("connected", metadata: ["url": "\("\(url)".escapedForLog())", "connection": "\(id)"])
        input(.connected)
        do {
            try await socket.executeThenClose { inbound, outbound in
                await withDiscardingTaskGroup { group in
                    group.addTask { await read(inbound, outbound: outbound) }
                    var writer = Writer(runner: self, outbound: outbound, channel: socket.channel)
                    for await command in commands {
                        await writer.handle(command, spawn: { group.addTask(operation: $0) })
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("socket ended", metadata: ["error": "\(error)"])
        }
        await abandonTurn()
    }

    // MARK: Identify turn

    /// Waits for the identify turn, unless the main loop closes this connection first (a stop):
    /// true once the turn is held in ``turn``.
    private func waitForIdentifyTurn(_ commands: AsyncStream<ConnectionCommand>) async -> Bool {
        let shardID = shard.configuration.shardID
        var closed = false
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [queue = shard.identifyQueue, turn, selfCommands, logger] in
                do {
                    let granted = try await queue.waitForTurn(shardID: shardID)
                    turn.withLockedValue { $0 = granted }
                } catch {
                    logger.debug("identify wait ended", metadata: ["error": "\(error)"])
                }
                selfCommands.yield(.identifyTurnWaitEnded)
            }
            closed = true  // also when the main loop ends the command stream
            waiting: for await command in commands {
                switch command {
                case .identifyTurnWaitEnded:
                    closed = false
                    break waiting
                case .close:
                    break waiting
                case .command(let id, let bytes, let opcode):
                    inputs.yield(.command(id: id, bytes: bytes, opcode: opcode))  // for the next socket
                default:
                    break  // nothing else is sent before the socket opens
                }
            }
            group.cancelAll()
        }
        // The waiting task has ended: a turn granted after all is handed back.
        if closed {
            await abandonTurn()
            return false
        }
        return turn.withLockedValue { $0 } != nil
    }

    /// Gives the held identify turn back unused, if one is held.
    private func abandonTurn() async {
        guard let held = turn.withLockedValue({ state -> IdentifyTurn? in defer { state = nil }; return state }) else { return }
        await shard.identifyQueue.turnAbandoned(held)
    }

    // MARK: Reading

    private func read(_ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>) async {
        let configuration = shard.configuration
        let zlib: ZlibStreamInflater? =
            configuration.compression == .zlibStream ? ZlibStreamInflater(maxMessageSize: configuration.maxDecompressedMessageSize) : nil
        #if Zstd
        let zstd: ZstdStreamInflater? =
            configuration.compression == .zstdStream ? ZstdStreamInflater(maxMessageSize: configuration.maxDecompressedMessageSize) : nil
        #endif
        var gate = ShardStateMachine.SequenceGate(last: lastSequence)
        var failed = false
        do {
            for try await frame in inbound {
                switch frame.opcode {
                case .text, .binary:
                    // After a transport failure the socket is closing: nothing more is read from it.
                    guard !failed else { continue }
                    var data = frame.unmaskedData
                    let bytes = data.readBytes(length: data.readableBytes) ?? []
                    shard.metrics.bytesIn.increment(by: Int64(bytes.count))
                    if frame.opcode == .text && !bytes.isValidUTF8 {
                        // RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection (1007).
                        failed = true
                        logger.error("text frame with invalid UTF-8", metadata: ["bytes": "\(bytes.count)"])
                        input(.transportFailed(.invalidUTF8))
                        continue
                    }
                    let message: [UInt8]?
                    do {
                        if let zlib {
                            message = try zlib.feed(bytes)
                        } else {
                            #if Zstd
                            message = try zstd.map { try $0.feed(bytes) } ?? bytes
                            #else
                            message = bytes
                            #endif
                        }
                    } catch {
                        // The compression context is unusable: the socket must go.
                        failed = true
                        logger.error("transport decompression failed", metadata: ["error": "\(error)"])
                        input(.transportFailed(.decompression("\(error)")))
                        continue
                    }
                    if let message, !(await process(message, gate: &gate)) { failed = true }
                case .connectionClose:
                    var data = frame.unmaskedData
                    let code = data.readInteger(as: UInt16.self)
                    logger.debug("server closed", metadata: ["code": "\(code.map(String.init) ?? "none")"])
                    input(.closed(code: code))
                    return
                case .ping:
                    try? await outbound.write(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData))
                default:
                    break
                }
            }
        } catch {
            logger.debug("read failed", metadata: ["error": "\(error)"])
        }
        input(.closed(code: nil))
    }

    /// Decodes one message and reports it; returns false when the connection cannot go on.
    private func process(_ message: [UInt8], gate: inout ShardStateMachine.SequenceGate) async -> Bool {
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
                return true
            case .hello, .ready:
                logger.error("gateway message unusable", metadata: ["error": "\(error)"])
                input(.transportFailed(.unreadableMessage(error.description)))
                return false
            }
        }
        if logger.logLevel <= .trace {
            logger.trace("<- \(inbound.summary.escapedForLog())",
                         metadata: ["payload": "\(String(decoding: message.prefix(2048), as: UTF8.self).escapedForLog(limit: 2048))"])
        }
        switch inbound {
        case .dispatch(let envelope):
            let accepted = await deliver(envelope, gate: &gate)
            if accepted, envelope.eventName == "RESUMED" {
                logger.info("resumed", metadata: ["sequence": "\(envelope.sequence.map(String.init) ?? "-")"])
                input(.resumed)
            }
        case .ready(let envelope, let sessionID, let resumeGatewayURL):
            guard await deliver(envelope, gate: &gate) else { return true }
            logger.info("ready", metadata: ["session": "\(sessionID.escapedForLog())"])
            input(.ready(sessionID: sessionID, resumeGatewayURL: resumeGatewayURL))
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
        return true
    }

    /// Passes a dispatch through the connection's sequence gate, to the user when subscribed, and
    /// reports it; returns whether it was accepted in order.
    @discardableResult
    private func deliver(_ envelope: GatewayEnvelope, gate: inout ShardStateMachine.SequenceGate) async -> Bool {
        shard.metrics.events.increment()
        switch gate.check(sequence: envelope.sequence, eventName: envelope.eventName) {
        case .accept(let sequence):
            if ShardStateMachine.delivers(eventName: envelope.eventName ?? "", subscription: shard.configuration.eventSubscription) {
                await shard.buffer.push(GatewayDispatch(shardID: shard.configuration.shardID, envelope: envelope))
            }
            input(.dispatch(sequence: sequence))
            return true
        case .acceptWithoutName(let sequence):
            logger.warning("dispatch without an event name skipped", metadata: ["sequence": "\(sequence)"])
            input(.dispatch(sequence: sequence))
            return false
        case .skipInvalidSequence(let sequence):
            logger.warning("dispatch with a missing or negative sequence skipped", metadata: [
                "sequence": "\(sequence.map(String.init) ?? "null")", "event": "\((envelope.eventName ?? "-").escapedForLog())",
            ])
            return false
        case .broken(let broken):
            logger.warning("dispatch sequence broken: resuming from the last contiguous one", metadata: [
                "break": "\(broken)", "event": "\((envelope.eventName ?? "-").escapedForLog())",
            ])
            input(.sequenceBroken(broken))
            return false
        case .dropAfterBreak:
            logger.debug("dispatch after a sequence break dropped (it will be replayed)", metadata: [
                "sequence": "\(envelope.sequence.map(String.init) ?? "null")",
            ])
            return false
        }
    }

    // MARK: Writing

    /// The write side of one socket: heartbeats at once, commands through the send limiter.
    struct Writer {
        let runner: ConnectionRunner
        let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
        let channel: NIOCore.Channel
        var limiter = SendLimiter()
        var queued: [(id: Int, bytes: [UInt8], opcode: Int)] = []
        var pumpScheduled = false
        var closed = false

        var shard: Shard { runner.shard }
        var clock: GatewayClock { shard.clock }

        mutating func handle(_ command: ConnectionCommand, spawn: (@escaping @Sendable () async -> Void) -> Void) async {
            guard !closed else {
                // The socket is going: hand commands back to the main loop for the next one.
                if case .command(let id, let bytes, let opcode) = command {
                    runner.inputs.yield(.command(id: id, bytes: bytes, opcode: opcode))
                }
                return
            }
            switch command {
            case .heartbeat(let bytes):
                await write(bytes, opcode: 1, loggable: true)
            case .identify(let bytes):
                if runner.turn.withLockedValue({ $0 }) != nil {
                    await handle(.identifyGranted(bytes), spawn: spawn)
                    return
                }
                // Not granted before connecting (this socket was meant to resume): wait now.
                let shardID = shard.configuration.shardID
                spawn { [queue = shard.identifyQueue, runner] in
                    do {
                        let granted = try await queue.waitForTurn(shardID: shardID)
                        runner.turn.withLockedValue { $0 = granted }
                        runner.selfCommands.yield(.identifyGranted(bytes))
                    } catch {
                        runner.logger.debug("identify wait ended", metadata: ["error": "\(error)"])
                    }
                }
            case .identifyGranted(let bytes):
                let held = runner.turn.withLockedValue { state -> IdentifyTurn? in defer { state = nil }; return state }
                let written = await write(bytes, opcode: 2, loggable: false)
                // The bucket's 5 s count from now: Discord times the IDENTIFY when it arrives.
                if let held {
                    if written { await shard.identifyQueue.identifySent(held) } else { await shard.identifyQueue.turnAbandoned(held) }
                }
                runner.input(.handshakeSent)
            case .identifyTurnWaitEnded:
                break
            case .resume(let bytes):
                await write(bytes, opcode: 6, loggable: false)
                runner.input(.handshakeSent)
            case .command(let id, let bytes, let opcode):
                queued.append((id, bytes, opcode))
                await pump(spawn: spawn)
            case .pump:
                pumpScheduled = false
                await pump(spawn: spawn)
            case .close(let code):
                closed = true
                var buffer = channel.allocator.buffer(capacity: 2)
                buffer.writeInteger(code)
                runner.logger.debug("closing", metadata: ["code": "\(code)"])
                // Not awaited: a zombie socket may never drain. The close ends the reader, which
                // reports the end to the main loop.
                channel.writeAndFlush(WebSocketFrameFactory.close(buffer), promise: nil)
                channel.close(promise: nil)
                // Commands still waiting for the send limit go to the next connection.
                for command in queued { runner.inputs.yield(.command(id: command.id, bytes: command.bytes, opcode: command.opcode)) }
                queued = []
            }
        }

        private mutating func pump(spawn: (@escaping @Sendable () async -> Void) -> Void) async {
            while let first = queued.first {
                let delay = limiter.delay(isHeartbeat: false, now: clock.now)
                if delay > .zero {
                    if !pumpScheduled {
                        pumpScheduled = true
                        spawn { [clock, selfCommands = runner.selfCommands] in
                            if (try? await clock.sleep(for: delay)) != nil { selfCommands.yield(.pump) }
                        }
                    }
                    return
                }
                queued.removeFirst()
                if await write(first.bytes, opcode: first.opcode, loggable: true) {
                    shard.completeCommand(first.id, with: nil)
                } else {
                    runner.inputs.yield(.command(id: first.id, bytes: first.bytes, opcode: first.opcode))
                }
            }
        }

        @discardableResult
        private mutating func write(_ bytes: [UInt8], opcode: Int, loggable: Bool) async -> Bool {
            limiter.record(now: clock.now)
            var buffer = channel.allocator.buffer(capacity: bytes.count)
            buffer.writeBytes(bytes)
            if runner.logger.logLevel <= .trace {
                runner.logger.trace("-> op=\(opcode)", metadata: [
                    "payload": "\(loggable ? String(decoding: bytes, as: UTF8.self) : "<contains the token: not logged>")",
                ])
            }
            do {
                try await outbound.write(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer))
                shard.metrics.bytesOut.increment(by: Int64(bytes.count))
                return true
            } catch {
                runner.logger.debug("write failed", metadata: ["error": "\(error)"])
                return false
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether the bytes are well-formed UTF-8.
    var isValidUTF8: Bool {
        !transcode(makeIterator(), from: UTF8.self, to: UTF32.self, stoppingOnError: true, into: { _ in })
    }
}

