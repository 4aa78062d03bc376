import Logging
import NIOCore

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
                loop.takeSequence()
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
