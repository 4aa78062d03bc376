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
    /// A command waited too long for the shard to be ready.
    case commandTimedOut(id: Int)
}

/// The main loop's handle on its current socket.
struct ConnectionHandle {
    let id: Int
    let commands: AsyncStream<ConnectionCommand>.Continuation
    let channel: NIOLockedValueBox<NIOCore.Channel?>
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
        var loop = MainLoop(
            shard: self, machine: ShardStateMachine(configuration: machineConfiguration, session: restored, seed: seed),
            inputs: inputContinuation)
        if let restored {
            shared.withLockedValue { $0.session = restored }
            logger.info("resuming a stored session", metadata: ["sequence": "\(restored.sequence)"])
        }
        let outcome: ShardError? = await withTaskGroup(of: Void.self) { group in
            if let keep = alreadyStopped {
                loop.handle(.machine(.stop(keepSession: keep), connection: nil))
            } else {
                loop.handle(.machine(.start, connection: nil))
            }
            for job in loop.takeSpawns() { group.addTask(operation: job) }
            for await input in inputs {
                loop.handle(input)
                for job in loop.takeSpawns() { group.addTask(operation: job) }
                await loop.flushSessionSaves()
                if loop.machine.isStopped { break }
            }
            if !loop.machine.isStopped {
                // The task running the shard was cancelled: close with a resumable code, keep the session.
                loop.closeNow(code: machineConfiguration.resumableCloseCode)
                loop.pendingSave = .some(loop.machine.session)
                setStatus(.stopped(error: nil))
            }
            await loop.flushSessionSaves()
            group.cancelAll()
            return loop.stopError
        }
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
    /// Child tasks to start in the shard's task group.
    var spawns: [@Sendable () async -> Void] = []
    var connection: ConnectionHandle?
    var pendingCommands: [(id: Int, bytes: [UInt8], opcode: Int)] = []
    var pendingSave: GatewaySession??
    var lastSaved: GatewaySession?
    var lastSaveCheck: Duration = .zero
    var stopError: ShardError?
    var isReady = false

    init(shard: Shard, machine: ShardStateMachine, inputs: AsyncStream<DriverInput>.Continuation) {
        self.shard = shard
        self.machine = machine
        self.inputs = inputs
        self.lastSaved = machine.session
    }

    var logger: Logger { shard.logger }
    var now: Duration { shard.clock.now }

    mutating func handle(_ input: DriverInput) {
        switch input {
        case .machine(let input, let id):
            if let id, id != machine.currentConnection { return }  // a late input of an old socket
            if case .closed = input, let connection, connection.id == id {
                connection.commands.finish()
                self.connection = nil
            }
            perform(machine.handle(input, now: now))
            if case .dispatch(let sequence?, _) = input {
                shard.shared.withLockedValue { $0.session?.sequence = sequence }
            }
        case .command(let id, let bytes, let opcode):
            if isReady, let connection {
                connection.commands.yield(.command(id: id, bytes: bytes, opcode: opcode))
            } else {
                pendingCommands.append((id, bytes, opcode))
                let limit = shard.configuration.commandWaitLimit
                spawns.append { [clock = shard.clock, inputs] in
                    if (try? await clock.sleep(for: limit)) != nil { inputs.yield(.commandTimedOut(id: id)) }
                }
            }
        case .commandTimedOut(let id):
            guard let index = pendingCommands.firstIndex(where: { $0.id == id }) else { return }
            pendingCommands.remove(at: index)
            shard.completeCommand(id, with: GatewayCommandError.notConnected(waited: shard.configuration.commandWaitLimit))
        }
        // Batched saves without a timer task per shard: every input (events, and heartbeat ACKs
        // when idle) checks whether the interval has passed since the last check.
        if pendingSave == nil, now - lastSaveCheck >= shard.configuration.sessionSaveInterval {
            lastSaveCheck = now
            let session = machine.session
            if session != lastSaved { pendingSave = .some(session) }
        }
    }

    mutating func perform(_ actions: [ShardStateMachine.Action]) {
        for action in actions {
            switch action {
            case .connect(let url, let id):
                startConnection(url: url, id: id)
            case .startHeartbeating(let interval, let first):
                connection?.commands.yield(.startHeartbeat(interval: interval, firstAfter: first))
            case .sendHeartbeat(let sequence):
                connection?.commands.yield(.heartbeat(GatewayCodec.heartbeat(sequence: sequence)))
            case .sendIdentify:
                do {
                    let bytes = try GatewayCodec.encode(.identify, shard.configuration.identify)
                    connection?.commands.yield(.identify(bytes))
                } catch {
                    logger.error("IDENTIFY could not be encoded", metadata: ["error": "\(error)"])
                }
            case .sendResume(let session):
                let resume = Resume(token: shard.configuration.token, sessionID: session.sessionID, sequence: session.sequence)
                if let bytes = try? GatewayCodec.encode(.resume, resume) { connection?.commands.yield(.resume(bytes)) }
            case .close(let code):
                connection?.commands.yield(.close(code: code))
            case .armHelloTimeout(let after, let id), .armReadyTimeout(let after, let id):
                connection?.commands.yield(.armTimeout(after: after, connection: id))
            case .scheduleReconnect(let after):
                logger.info("reconnecting", metadata: ["after": "\(after)"])
                spawns.append { [clock = shard.clock, inputs] in
                    if (try? await clock.sleep(for: after)) != nil {
                        inputs.yield(.machine(.reconnectDelayElapsed, connection: nil))
                    }
                }
            case .recordLatency(let latency):
                shard.shared.withLockedValue { $0.latency = latency }
                shard.metrics.latency.recordNanoseconds(latency.nanoseconds)
            case .persistSession(let session):
                pendingSave = .some(session)
            case .setStatus(let status):
                isReady = status == .ready
                shard.setStatus(status)
                logger.debug("status", metadata: ["status": "\(status)"])
                if isReady { flushPendingCommands() }
            case .recordReconnect(let reason):
                shard.metrics.reconnect(reason: reason)
                logger.info("connection lost", metadata: ["reason": "\(reason)"])
            case .stopped(let error):
                stopError = error
                pendingSave = .some(machine.session)
                connection?.commands.finish()
                connection = nil
                if let error { logger.error("shard stopped", metadata: ["error": "\(error)"]) }
                for command in pendingCommands { shard.completeCommand(command.id, with: GatewayCommandError.shardStopped) }
                pendingCommands = []
            }
        }
    }

    private mutating func flushPendingCommands() {
        guard let connection else { return }
        for command in pendingCommands {
            connection.commands.yield(.command(id: command.id, bytes: command.bytes, opcode: command.opcode))
        }
        pendingCommands = []
    }

    private mutating func startConnection(url: String, id: Int) {
        connection?.commands.finish()
        let (commands, continuation) = AsyncStream.makeStream(of: ConnectionCommand.self)
        let channel = NIOLockedValueBox<NIOCore.Channel?>(nil)
        connection = ConnectionHandle(id: id, commands: continuation, channel: channel)
        guard let parsed = GatewayURL(url) else {
            inputs.yield(.machine(.connectFailed(reason: "bad URL \(url.escapedForLog(limit: 200))"), connection: id))
            return
        }
        let runner = ConnectionRunner(
            shard: shard, url: parsed, id: id, inputs: inputs, selfCommands: continuation, channel: channel)
        // No session to resume: the socket opens once the identify queue grants the turn.
        let identifies = machine.session == nil
        spawns.append { await runner.run(commands: commands, identifies: identifies) }
    }

    mutating func takeSpawns() -> [@Sendable () async -> Void] {
        defer { spawns = [] }
        return spawns
    }

    /// Closes the socket at once (the shard is going away).
    func closeNow(code: UInt16) {
        guard let connection else { return }
        connection.commands.finish()
        if let channel = connection.channel.withLockedValue({ $0 }) {
            var buffer = channel.allocator.buffer(capacity: 2)
            buffer.writeInteger(code)
            channel.writeAndFlush(WebSocketFrameFactory.close(buffer), promise: nil)
            channel.close(promise: nil)
        }
    }

    /// Saves the session if it changed.
    mutating func flushSessionSaves() async {
        guard let pending = pendingSave else { return }
        pendingSave = nil
        shard.shared.withLockedValue { $0.session = pending }
        guard pending != lastSaved else { return }
        do {
            try await shard.sessionStore.save(pending, shardID: shard.configuration.shardID, shardCount: shard.configuration.shardCount)
            lastSaved = pending
        } catch {
            logger.warning("session could not be saved", metadata: ["error": "\(error)"])
        }
    }
}
