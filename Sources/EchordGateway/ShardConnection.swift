import EchordModels
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// What the main loop asks of the current socket.
enum ConnectionCommand: Sendable {
    case startHeartbeat(interval: Duration, firstAfter: Duration)
    case heartbeat([UInt8])
    case identify([UInt8])
    case identifyGranted([UInt8])
    /// The wait for the identify turn ended (granted or not) before the socket opened.
    case identifyTurnWaitEnded
    case resume([UInt8])
    case command(id: Int, bytes: [UInt8], opcode: Int)
    case pump
    case armTimeout(after: Duration, connection: Int)
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
                input(.connectFailed(reason: "no identify turn"))
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
            if case GatewayTransportError.tlsFailed = error {
                // Not a network blip: a configuration problem the operator must see.
                logger.warning("TLS handshake failed; the shard keeps retrying", metadata: ["url": "\(url)", "error": "\(error)"])
            }
            input(.connectFailed(reason: "\(error)"))
            return
        }
        channel.withLockedValue { $0 = socket.channel }
        logger.debug("connected", metadata: ["url": "\(url)", "connection": "\(id)"])
        input(.connected)
        do {
            try await socket.executeThenClose { inbound, outbound in
                await withTaskGroup(of: Void.self) { group in
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
        var inflateFailed = false
        do {
            for try await frame in inbound {
                switch frame.opcode {
                case .text, .binary:
                    guard !inflateFailed else { continue }
                    var data = frame.unmaskedData
                    let bytes = data.readBytes(length: data.readableBytes) ?? []
                    shard.metrics.bytesIn.increment(by: Int64(bytes.count))
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
                        inflateFailed = true
                        logger.error("transport decompression failed", metadata: ["error": "\(error)"])
                        input(.transportFailed(reason: "decompression failed: \(error)"))
                        continue
                    }
                    if let message { await process(message) }
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

    private func process(_ message: [UInt8]) async {
        let envelope: GatewayEnvelope
        do {
            envelope = try GatewayEnvelope(scanning: message)
        } catch {
            shard.metrics.decodeFailures.increment()
            logger.warning("undecodable gateway message skipped", metadata: [
                "error": "\(error)", "bytes": "\(message.count)",
            ])
            return
        }
        if logger.logLevel <= .trace {
            logger.trace("<- op=\(envelope.opcode.rawValue) t=\(envelope.eventName ?? "-") s=\(envelope.sequence.map(String.init) ?? "-")",
                         metadata: ["payload": "\(String(decoding: message.prefix(2048), as: UTF8.self))"])
        }
        switch envelope.opcode {
        case .dispatch:
            if shard.wants(envelope.eventName) {
                await shard.buffer.push(GatewayDispatch(shardID: shard.configuration.shardID, envelope: envelope))
            }
            shard.metrics.events.increment()
            input(.dispatch(sequence: envelope.sequence, eventName: envelope.eventName))
            if envelope.eventName == "READY" {
                do {
                    let ready = try JSONDecoder().decode(ReadySessionFields.self, from: Data(envelope.data))
                    logger.info("ready", metadata: ["session": "\(ready.sessionID.escapedForLog(limit: 128))"])
                    input(.ready(sessionID: ready.sessionID, resumeGatewayURL: ready.resumeGatewayURL))
                } catch {
                    shard.metrics.decodeFailures.increment()
                    logger.error("READY without a usable session_id / resume_gateway_url", metadata: ["error": "\(error)"])
                    input(.transportFailed(reason: "READY could not be read"))
                }
            } else if envelope.eventName == "RESUMED" {
                logger.info("resumed", metadata: ["sequence": "\(envelope.sequence.map(String.init) ?? "-")"])
                input(.resumed)
            }
        case .heartbeat:
            input(.heartbeatRequested)
        case .reconnect:
            input(.reconnectRequested)
        case .invalidSession:
            input(.invalidSession(resumable: envelope.data.elementsEqual("true".utf8)))
        case .hello:
            guard let hello = try? JSONDecoder().decode(Hello.self, from: Data(envelope.data)), hello.heartbeatInterval > 0 else {
                shard.metrics.decodeFailures.increment()
                logger.error("HELLO without a usable heartbeat_interval")
                input(.transportFailed(reason: "HELLO could not be read"))
                return
            }
            input(.hello(heartbeatInterval: .milliseconds(hello.heartbeatInterval)))
        case .heartbeatAck:
            input(.heartbeatAck)
        default:
            logger.debug("unknown opcode ignored", metadata: ["op": "\(envelope.opcode.rawValue)"])
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
            case .startHeartbeat(let interval, let firstAfter):
                let start = clock.now + firstAfter
                spawn { [clock, runner] in
                    var next = start
                    while (try? await clock.sleep(until: next)) != nil {
                        runner.input(.heartbeatDue)
                        next += interval
                    }
                }
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
            case .armTimeout(let after, let connection):
                spawn { [clock, inputs = runner.inputs] in
                    if (try? await clock.sleep(for: after)) != nil {
                        inputs.yield(.machine(.timeoutFired(connection: connection), connection: connection))
                    }
                }
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

/// The fields of READY a shard needs to resume.
struct ReadySessionFields: Decodable {
    let sessionID: String
    let resumeGatewayURL: String
    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id", resumeGatewayURL = "resume_gateway_url"
    }
}
