import EchordModels
import Logging

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
        // The newest `s` first: every input is handled after the dispatches read before it.
        takeSequence()
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
        case .command(let id, let bytes, let opcode):
            commands[id] = (bytes, opcode)
            perform(machine.handle(.commandSubmitted(id: id), now: now))
        case .opened(let channel, let id):
            opened(channel, id: id)
        case .identifyTurn(let turn, let id):
            turnEnded(turn, id: id)
        case .pump(let id):
            if connection?.id == id { pump() }
        case .sequenceReported:
            break  // taken above
        }
    }

    /// When the next session-save check is due (the machine's cadence).
    var nextSaveCheck: Duration { machine.lastSaveCheck + machine.configuration.sessionSaveInterval }

    /// Takes the newest `s` the open connection's handler accepted, if any, into the machine (which
    /// saves the session when a save check is due), and tells the mailbox when the next check is due.
    mutating func takeSequence() {
        guard let s = shard.sequences.take(connection: machine.currentConnection) else { return }
        perform(machine.handle(.dispatch(sequence: s), now: now))
        shard.shared.withLockedValue { $0.session?.sequence = s }
        shard.sequences.wake(at: nextSaveCheck)
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
                shard.metrics.recordLatency(latency)
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
                shard.sequences.close()
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
