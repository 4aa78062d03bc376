import EchordModels
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// What the shard's main loop reacts to.
enum DriverInput: Sendable {
    /// A protocol input; `connection` tags inputs of one socket, so late ones of an old socket are dropped.
    case machine(ShardStateMachine.Input, connection: Int?)
    /// A user command to send.
    case command(id: Int, bytes: [UInt8], opcode: Int)
    /// The socket of connection `connection` is upgraded; its handler reports this before any frame.
    case opened(NIOCore.Channel, connection: Int)
    /// The wait for an identify turn of connection `connection` ended: the turn, or nil when none
    /// was granted.
    case identifyTurn(IdentifyTurn?, connection: Int)
    /// The send limiter of connection `connection` has a free slot again.
    case pump(connection: Int)
}

extension Shard {
    /// Runs the shard until it stops.
    ///
    /// - Throws: ``ShardError`` when the gateway closed with a fatal code (4004, 4010–4014) or the
    ///   configuration cannot work; ``TLSTrustRootError`` when an extra trust root cannot be
    ///   loaded. Returns normally after ``stop(keepSession:)`` or cancellation.
    public func run() async throws {
        try configuration.validate()
        // Loads the extra trust roots (once per process and set) before any connection.
        if !configuration.additionalTrustRoots.isEmpty { _ = try SharedTLS.context(trusting: configuration.additionalTrustRoots) }
        guard let gatewayURL = GatewayURL(configuration.gatewayURL) else {
            throw ShardError.invalidConfiguration("bad gateway URL")
        }
        let (inputs, inputContinuation) = AsyncStream.makeStream(of: DriverInput.self)
        let alreadyStopped: Bool? = shared.withLockedValue { state in
            precondition(!state.started, "Shard.run() was called twice")
            state.started = true
            state.inputs = inputContinuation
            return state.stopRequested
        }
        let restored = try? await sessionStore.session(shardID: configuration.shardID, shardCount: configuration.shardCount)
        var machineConfiguration = ShardStateMachine.Configuration(gatewayURL: gatewayURL.description)
        machineConfiguration.helloTimeout = configuration.helloTimeout
        machineConfiguration.readyTimeout = configuration.readyTimeout
        machineConfiguration.backoffBase = configuration.backoffBase
        machineConfiguration.backoffCap = configuration.backoffCap
        machineConfiguration.commandWaitLimit = configuration.commandWaitLimit
        machineConfiguration.sessionSaveInterval = configuration.sessionSaveInterval
        let timer = DeadlineTimer(clock: clock, inputs: inputContinuation)
        let saver = SessionSaver(
            store: sessionStore, shardID: configuration.shardID, shardCount: configuration.shardCount, logger: logger,
            initial: restored)
        var loop = MainLoop(
            shard: self, machine: ShardStateMachine(configuration: machineConfiguration, session: restored, seed: seed),
            inputs: inputContinuation, saver: saver, timer: timer)
        if let restored {
            shared.withLockedValue { $0.session = restored }
            logger.info("resuming a stored session", metadata: ["sequence": "\(restored.sequence)"])
        }
        // The shard's one long-lived task is this one. Its children are short: an identify wait, a
        // connect, a session save; they end on their own and the discarding group keeps none of them.
        // The socket is read by its channel handler and the timers are callbacks on the clock.
        let (outcome, lastChannel): (ShardError?, NIOCore.Channel?) = await withDiscardingTaskGroup { group in
            if let keep = alreadyStopped {
                loop.handle(.machine(.stop(keepSession: keep), connection: nil))
            } else {
                loop.handle(.machine(.start, connection: nil))
            }
            for job in loop.takeSpawns() { group.addTask(operation: job) }
            // A shard stopped before it ran is stopped already: no input would ever come to end the loop.
            var pending = inputs.makeAsyncIterator()
            while !loop.machine.isStopped, let input = await pending.next() {
                loop.handle(input)
                for job in loop.takeSpawns() { group.addTask(operation: job) }
            }
            if !loop.machine.isStopped {
                // The task running the shard was cancelled: close with a resumable code, keep the session.
                loop.closeNow(code: machineConfiguration.resumableCloseCode)
                loop.save(loop.machine.session)
                setStatus(.stopped(error: nil))
            }
            timer.finish()
            let channel = loop.finishConnection()
            for job in loop.takeSpawns() { group.addTask(operation: job) }
            group.cancelAll()
            return (loop.stopError, channel)
        }
        // The last save is written before run() returns (also when a writer was cancelled).
        await saver.drainUnclaimed()
        try? await lastChannel?.closeFuture.get()
        inputContinuation.finish()
        if ownsBuffer { buffer.finish() }
        let waiters = shared.withLockedValue { state -> [CheckedContinuation<Void, Error>] in
            state.inputs = nil
            defer { state.commandWaiters = [:] }
            return Array(state.commandWaiters.values)
        }
        waiters.forEach { $0.resume(throwing: GatewayCommandError.shardStopped) }
        if let outcome { throw outcome }
    }
}

/// The shard's main loop: feeds the state machine and carries out its actions.
struct MainLoop {
    let shard: Shard
    var machine: ShardStateMachine
    let inputs: AsyncStream<DriverInput>.Continuation
    let saver: SessionSaver
    let timer: DeadlineTimer
    /// Child tasks to start in the shard's task group (short ones: an identify wait, a connect, a save).
    var spawns: [@Sendable () async -> Void] = []
    var connection: ConnectionHandle?
    /// The bytes of commands the machine has not sent or expired yet, by id.
    var commands: [Int: (bytes: [UInt8], opcode: Int)] = [:]
    var stopError: ShardError?
    /// The beat of the current connection: its interval and the next beat, on the shard's timer.
    var heartbeat: (connection: Int, interval: Duration, next: Duration)?

    init(
        shard: Shard, machine: ShardStateMachine, inputs: AsyncStream<DriverInput>.Continuation, saver: SessionSaver,
        timer: DeadlineTimer
    ) {
        self.shard = shard
        self.machine = machine
        self.inputs = inputs
        self.saver = saver
        self.timer = timer
    }

    var logger: Logger { shard.logger }
    var now: Duration { shard.clock.now }

    mutating func handle(_ input: DriverInput) {
        switch input {
        case .machine(let input, let id):
            if let id, id != machine.currentConnection { return }  // a late input of an old socket
            if case .closed = input, let connection, connection.id == id {
                dropConnection()
                timer.cancel(.handshake)
                stopHeartbeat()
            }
            if case .connectFailed = input, let connection, connection.id == id {
                dropConnection()
            }
            if case .heartbeatDue = input, var beat = heartbeat, beat.connection == id {
                // The next beat, one interval after this one was due (not after it was handled).
                beat.next += beat.interval
                heartbeat = beat
                timer.set(.heartbeat, at: beat.next, fire: .machine(.heartbeatDue, connection: beat.connection))
            }
            perform(machine.handle(input, now: now))
            if case .dispatch(let sequence) = input {
                shard.shared.withLockedValue { $0.session?.sequence = sequence }
            }
        case .command(let id, let bytes, let opcode):
            commands[id] = (bytes, opcode)
            perform(machine.handle(.commandSubmitted(id: id), now: now))
        case .opened(let channel, let id):
            opened(channel, id: id)
        case .identifyTurn(let turn, let id):
            turnEnded(turn, id: id)
        case .pump(let id):
            if connection?.id == id { pump() }
        }
    }

    mutating func perform(_ actions: [ShardStateMachine.Action]) {
        for action in actions {
            switch action {
            case .connect(let url, let id, let lastSequence):
                startConnection(url: url, id: id, lastSequence: lastSequence)
            case .startHeartbeating(let interval, let first):
                guard let connection else { break }
                heartbeat = (connection.id, interval, now + first)
                timer.set(.heartbeat, at: now + first, fire: .machine(.heartbeatDue, connection: connection.id))
            case .sendHeartbeat(let sequence):
                write(GatewayCodec.heartbeat(sequence: sequence), opcode: 1, loggable: true)
            case .sendIdentify:
                do {
                    sendIdentify(try GatewayCodec.encode(.identify, shard.configuration.identify))
                } catch {
                    logger.error("IDENTIFY could not be encoded", metadata: ["error": "\(error)"])
                }
            case .sendResume(let session):
                let resume = Resume(token: shard.configuration.token, sessionID: session.sessionID, sequence: session.sequence)
                if let bytes = try? GatewayCodec.encode(.resume, resume), let connection, !connection.closed {
                    write(bytes, opcode: 6, loggable: false)
                    inputs.yield(.machine(.handshakeSent, connection: connection.id))
                }
            case .close(let code):
                close(code: code)
            case .armHelloTimeout(let after, let id), .armReadyTimeout(let after, let id):
                timer.set(.handshake, at: now + after, fire: .machine(.timeoutFired(connection: id), connection: id))
            case .scheduleReconnect(let after):
                logger.info("reconnecting", metadata: ["after": "\(after)"])
                timer.set(.reconnect, at: now + after, fire: .machine(.reconnectDelayElapsed, connection: nil))
            case .recordLatency(let latency):
                shard.shared.withLockedValue { $0.latency = latency }
                shard.metrics.latency.recordNanoseconds(latency.nanoseconds)
            case .persistSession(let session):
                save(session)
            case .setStatus(let status):
                if status == .ready { timer.cancel(.handshake) }
                shard.setStatus(status)
                logger.debug("status", metadata: ["status": "\(status)"])
            case .recordReconnect(let reason):
                shard.metrics.reconnect(reason: reason)
                // The reason may quote remote text (a resume URL, a TLS peer): escaped.
                logger.info("connection lost", metadata: ["reason": "\("\(reason)".escapedForLog())", "kind": "\(reason.metricLabel)"])
            case .sendCommand(let id):
                guard let command = commands.removeValue(forKey: id) else { break }
                if connection != nil, connection?.closed == false {
                    connection?.queued.append((id, command.bytes, command.opcode))
                    pump()
                } else {
                    inputs.yield(.command(id: id, bytes: command.bytes, opcode: command.opcode))
                }
            case .expireCommand(let id):
                commands[id] = nil
                shard.completeCommand(id, with: GatewayCommandError.notConnected(waited: shard.configuration.commandWaitLimit))
            case .armCommandExpiry(let at):
                if let at {
                    timer.set(.commandExpiry, at: at, fire: .machine(.commandWaitElapsed, connection: nil))
                } else {
                    timer.cancel(.commandExpiry)
                }
            case .stopped(let error):
                stopError = error
                save(machine.session)
                close(code: nil)
                if let error { logger.error("shard stopped", metadata: ["error": "\(error)"]) }
                for id in commands.keys { shard.completeCommand(id, with: GatewayCommandError.shardStopped) }
                commands = [:]
                timer.cancel(.commandExpiry)
                stopHeartbeat()
            }
        }
    }

    /// Publishes the session and hands it to the saver (the write happens off this loop, in a
    /// short child task started only when no write is under way).
    mutating func save(_ session: GatewaySession?) {
        shard.shared.withLockedValue { $0.session = session }
        if saver.submit(session) {
            spawns.append { [saver] in await saver.drain() }
        }
    }

    mutating func stopHeartbeat() {
        heartbeat = nil
        timer.cancel(.heartbeat)
    }

    mutating func takeSpawns() -> [@Sendable () async -> Void] {
        defer { spawns = [] }
        return spawns
    }
}
