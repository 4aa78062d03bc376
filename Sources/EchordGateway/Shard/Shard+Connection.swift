import EchordModels
import Logging
import NIOCore
import NIOWebSocket

/// The main loop's side of one socket: the channel once upgraded, the identify turn it holds, and
/// the commands waiting for the send limiter. Owned by the main loop (no lock); what happens
/// elsewhere (the upgrade, a granted turn, a free send slot) arrives as a ``DriverInput``.
struct ConnectionHandle {
    enum Phase {
        /// Waiting for the identify turn before opening the socket.
        case waitingForTurn
        /// Connecting (TCP, TLS, upgrade).
        case connecting
        /// Upgraded: ``ConnectionHandle/channel`` is set.
        case open
    }

    let id: Int
    let url: GatewayURL
    let lastSequence: Int?
    var phase: Phase
    var channel: NIOCore.Channel?
    /// The identify turn held until the IDENTIFY is written (or handed back unused).
    var turn: IdentifyTurn?
    /// An IDENTIFY waiting for a turn (a socket opened to resume whose session was then lost).
    var identifyWaiting: [UInt8]?
    /// The main loop closed this connection (the code of its close frame, nil for none).
    var closed = false
    var closeCode: UInt16?
    var limiter = SendLimiter()
    var queued: [(id: Int, bytes: [UInt8], opcode: Int)] = []
}

extension MainLoop {
    mutating func startConnection(url: String, id: Int, lastSequence: Int?) {
        close(code: nil)
        dropConnection()
        stopHeartbeat()
        guard let parsed = GatewayURL(url) else {
            inputs.yield(.machine(.connectFailed(.invalidURL(url.escapedForLog(limit: 200))), connection: id))
            return
        }
        // No session to resume: the socket opens once the identify queue grants the turn, so a
        // queued shard holds no socket.
        let identifies = machine.session == nil
        connection = ConnectionHandle(
            id: id, url: parsed, lastSequence: lastSequence, phase: identifies ? .waitingForTurn : .connecting)
        shard.sequences.open(connection: id, wakeAt: nextSaveCheck)
        if identifies { waitForTurn(id: id) } else { connect() }
    }

    /// A child task waits for the identify turn and reports it as ``DriverInput/identifyTurn(_:connection:)``.
    private mutating func waitForTurn(id: Int) {
        let shardID = shard.configuration.shardID
        spawns.append { [queue = shard.identifyQueue, inputs, logger] in
            do {
                let turn = try await queue.waitForTurn(shardID: shardID)
                inputs.yield(.identifyTurn(turn, connection: id))
            } catch {
                Self.turnWaitEnded(error, id: id, inputs: inputs, logger: logger)
            }
        }
    }

    /// The identify wait of connection `id` ended without a turn. Synchronous, like
    /// ``connectFailed(_:url:id:shard:inputs:)``, so the child task's async frame stays small.
    private static func turnWaitEnded(
        _ error: any Error, id: Int, inputs: AsyncStream<DriverInput>.Continuation, logger: Logger
    ) {
        logger.debug("identify wait ended", metadata: ["error": "\(error)"])
        inputs.yield(.identifyTurn(nil, connection: id))
    }

    mutating func turnEnded(_ turn: IdentifyTurn?, id: Int) {
        guard var handle = connection, handle.id == id, !handle.closed else {
            if let turn { abandon(turn) }  // the connection is gone: the turn goes back unused
            return
        }
        switch handle.phase {
        case .waitingForTurn:
            guard let turn else {
                connection = nil
                inputs.yield(.machine(.connectFailed(.connectionFailed("no identify turn")), connection: id))
                return
            }
            handle.turn = turn
            handle.phase = .connecting
            connection = handle
            connect()
        case .connecting, .open:
            if let turn, handle.turn == nil {
                handle.turn = turn
                connection = handle
                if let bytes = connection?.identifyWaiting {
                    connection?.identifyWaiting = nil
                    sendIdentify(bytes)
                }
            } else if let turn {
                abandon(turn)
            }
        }
    }

    /// A child task opens the socket; the channel's handler reports it as ``DriverInput/opened(_:connection:)``.
    private mutating func connect() {
        guard let handle = connection else { return }
        let (url, id, lastSequence) = (handle.url, handle.id, handle.lastSequence)
        spawns.append { [shard, inputs] in
            do {
                _ = try await GatewayTransport.connect(
                    to: url, compression: shard.configuration.compression, configuration: shard.configuration.transport,
                    trustRoots: shard.configuration.additionalTrustRoots
                ) { channel in
                    try channel.pipeline.syncOperations.addHandler(
                        ShardChannelHandler(shard: shard, id: id, inputs: inputs, lastSequence: lastSequence))
                }
            } catch {
                Self.connectFailed(error, url: url, id: id, shard: shard, inputs: inputs)
            }
        }
    }

    /// The connect of connection `id` failed. Synchronous: the connect's child task holds one
    /// small async frame (the task allocator keeps every slab a task needed until it ends, and
    /// every shard connects at least once).
    private static func connectFailed(
        _ error: any Error, url: GatewayURL, id: Int, shard: Shard, inputs: AsyncStream<DriverInput>.Continuation
    ) {
        let failure = error as? GatewayTransportError ?? .connectionFailed("\(error)")
        if case .tlsFailed = failure {
            // Not a network blip: a configuration problem the operator must see.
            shard.logger.warning("TLS handshake failed; the shard keeps retrying", metadata: [
                "url": "\("\(url)".escapedForLog())", "error": "\("\(failure)".escapedForLog())",
            ])
        }
        inputs.yield(.machine(.connectFailed(failure), connection: id))
    }

    mutating func opened(_ channel: NIOCore.Channel, id: Int) {
        guard var handle = connection, handle.id == id, id == machine.currentConnection else {
            channel.close(promise: nil)  // a socket of a connection given up while it opened
            return
        }
        handle.channel = channel
        handle.phase = .open
        connection = handle
        logger.debug("connected", metadata: ["url": "\("\(handle.url)".escapedForLog())", "connection": "\(id)"])
        if handle.closed {
            // Closed while connecting: the close frame goes now; the handler reports the end.
            closeChannel(channel, code: handle.closeCode)
        }
        perform(machine.handle(.connected, now: now))
        pump()
    }

    // MARK: Writing

    /// Writes one text frame on the current socket (not awaited; the channel queues it).
    @discardableResult
    mutating func write(_ bytes: [UInt8], opcode: Int, loggable: Bool) -> EventLoopFuture<Void>? {
        guard let channel = connection?.channel, connection?.closed == false else { return nil }
        let time = now
        connection?.limiter.record(now: time)
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        if logger.logLevel <= .trace {
            logger.trace("-> op=\(opcode)", metadata: [
                "payload": "\(loggable ? String(decoding: bytes, as: UTF8.self) : "<contains the token: not logged>")",
            ])
        }
        let written = channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer))
        let (metrics, logger, count) = (shard.metrics, logger, bytes.count)
        written.whenComplete { result in
            switch result {
            case .success: metrics.countBytesOut(count)
            case .failure(let error): logger.debug("write failed", metadata: ["error": "\(error)"])
            }
        }
        return written
    }

    /// Writes the IDENTIFY once the identify turn is held (waiting for one first if not).
    mutating func sendIdentify(_ bytes: [UInt8]) {
        guard let handle = connection, !handle.closed else { return }
        guard let held = handle.turn else {
            // Not granted before connecting (this socket was meant to resume): wait now.
            connection?.identifyWaiting = bytes
            waitForTurn(id: handle.id)
            return
        }
        connection?.turn = nil
        let written = write(bytes, opcode: 2, loggable: false)
        // The bucket's 5 s count from when the IDENTIFY is written: Discord times it when it arrives.
        // Then the handshake counts as sent (the queue hears of it first, as before).
        let id = handle.id
        spawns.append { [queue = shard.identifyQueue, inputs] in
            if let written, (try? await written.get()) != nil {
                await queue.identifySent(held)
            } else {
                await queue.turnAbandoned(held)
            }
            inputs.yield(.machine(.handshakeSent, connection: id))
        }
    }

    /// Writes queued commands while the send limiter has room; arms a deadline for the next slot.
    mutating func pump() {
        guard let handle = connection, handle.channel != nil, !handle.closed else { return }
        while let first = connection?.queued.first {
            let time = now
            let delay = connection?.limiter.delay(isHeartbeat: false, now: time) ?? .zero
            if delay > .zero {
                if !timer.isArmed(.sendPacing) {
                    timer.set(.sendPacing, at: now + delay, fire: .pump(connection: handle.id))
                }
                return
            }
            connection?.queued.removeFirst()
            guard let written = write(first.bytes, opcode: first.opcode, loggable: true) else {
                inputs.yield(.command(id: first.id, bytes: first.bytes, opcode: first.opcode))
                continue
            }
            let (shard, inputs) = (shard, inputs)
            written.whenComplete { result in
                switch result {
                case .success: shard.completeCommand(first.id, with: nil)
                case .failure: inputs.yield(.command(id: first.id, bytes: first.bytes, opcode: first.opcode))
                }
            }
        }
    }

    // MARK: Closing

    /// Closes the current socket with `code` (no close frame for nil), not waiting for it: a zombie
    /// socket may never drain. With a close frame the socket's handler reports the end as the frame
    /// goes out and keeps the socket for the server's answer, a bounded time (see
    /// ``ShardChannelHandler/write(context:data:promise:)``). Commands still waiting for the send
    /// limit go to the next connection.
    mutating func close(code: UInt16?) {
        guard var handle = connection, !handle.closed else { return }
        handle.closed = true
        handle.closeCode = code
        for command in handle.queued { inputs.yield(.command(id: command.id, bytes: command.bytes, opcode: command.opcode)) }
        handle.queued = []
        timer.cancel(.sendPacing)
        if let channel = handle.channel {
            if let code { logger.debug("closing", metadata: ["code": "\(code)"]) }
            closeChannel(channel, code: code)
        } else if handle.phase == .waitingForTurn {
            // Not connected yet: the attempt ends here (a turn granted later is handed back).
            inputs.yield(.machine(.connectFailed(.connectionFailed("no identify turn")), connection: handle.id))
        }
        connection = handle
    }

    private func closeChannel(_ channel: NIOCore.Channel, code: UInt16?) {
        guard let code else {
            channel.close(promise: nil)
            return
        }
        var buffer = channel.allocator.buffer(capacity: 2)
        buffer.writeInteger(code)
        let written = channel.writeAndFlush(WebSocketFrameFactory.close(buffer))
        written.whenFailure { _ in channel.close(promise: nil) }  // the socket is already gone
    }

    /// Forgets the current connection (its socket has ended or is replaced): its channel is closed
    /// (unless it sent a close frame: then it ends with the close handshake) and an identify turn it
    /// holds goes back to the queue.
    mutating func dropConnection() {
        guard let handle = connection else { return }
        connection = nil
        shard.sequences.close()
        if !handle.closed || handle.closeCode == nil { handle.channel?.close(promise: nil) }
        if let turn = handle.turn { abandon(turn) }
        for command in handle.queued { inputs.yield(.command(id: command.id, bytes: command.bytes, opcode: command.opcode)) }
        timer.cancel(.sendPacing)
    }

    private mutating func abandon(_ turn: IdentifyTurn) {
        spawns.append { [queue = shard.identifyQueue] in await queue.turnAbandoned(turn) }
    }

    /// Closes the socket at once (the shard is going away).
    mutating func closeNow(code: UInt16) {
        close(code: code)
    }

    /// At the shard's end: drops the connection; returns its channel, for run() to wait for its close.
    mutating func finishConnection() -> NIOCore.Channel? {
        let channel = connection?.channel
        close(code: nil)
        dropConnection()
        return channel
    }
}
