import Logging
import NIOCore

extension Shard {
    /// Runs the shard until it stops.
    ///
    /// - Throws: ``ShardError`` when the gateway closed with a fatal code (4004, 4010–4014) or the
    ///   configuration cannot work; ``TLSTrustRootError`` when an extra trust root cannot be
    ///   loaded. Returns normally after ``stop(keepSession:)`` or cancellation.
    public func run() async throws {
        // The task allocator keeps every slab its deepest async frame ever needed for the task's
        // life, so what the frames of the input loop hold across an await is paid by every idle
        // shard: here a few references. The main loop (the machine, the connection, the timers)
        // lives on the heap, and the work between two inputs is done by synchronous functions.
        let running = try await prepareRun()
        // The shard's one long-lived task is this one. Its children are short: an identify wait, a
        // connect, a session save; they end on their own and the discarding group keeps none of them.
        // The socket is read by its channel handler and the timers are callbacks on the clock.
        let lastChannel: NIOCore.Channel? = await withDiscardingTaskGroup { group in
            await running.drive(&group)
            return finishLoop(running, in: &group)
        }
        try await endRun(running, lastChannel: lastChannel)
    }

    /// Everything before the input loop: the checks, the input stream, the stored session, the
    /// main loop.
    private func prepareRun() async throws -> RunningLoop {
        let (inputs, inputContinuation, alreadyStopped) = try startRun()
        let restored = try? await sessionStore.session(shardID: configuration.shardID, shardCount: configuration.shardCount)
        return RunningLoop(
            try makeMainLoop(inputs: inputContinuation, restored: restored), inputs: inputs,
            continuation: inputContinuation, alreadyStopped: alreadyStopped)
    }

    /// Everything after the input loop: the last save, the socket's close, the input stream's end,
    /// the commands still waiting; throws the error the shard stopped with.
    private func endRun(_ running: RunningLoop, lastChannel: NIOCore.Channel?) async throws {
        // The last save is written before run() returns (also when a writer was cancelled).
        await running.loop.saver.drainUnclaimed()
        try? await lastChannel?.closeFuture.get()
        running.continuation.finish()
        if ownsBuffer { buffer.finish() }
        let waiters = shared.withLockedValue { state -> [CheckedContinuation<Void, Error>] in
            state.inputs = nil
            defer { state.commandWaiters = [:] }
            return Array(state.commandWaiters.values)
        }
        waiters.forEach { $0.resume(throwing: GatewayCommandError.shardStopped) }
        if let outcome = running.loop.stopError { throw outcome }
    }

    /// Checks the configuration, marks the shard started and makes its input stream; returns the
    /// stream, its continuation and the `keepSession` of a stop requested before run() (nil: none).
    private func startRun() throws -> (AsyncStream<DriverInput>, AsyncStream<DriverInput>.Continuation, Bool?) {
        try configuration.validate()
        // Loads the extra trust roots (once per process and set) before any connection.
        if !configuration.additionalTrustRoots.isEmpty { _ = try SharedTLS.context(trusting: configuration.additionalTrustRoots) }
        guard GatewayURL(configuration.gatewayURL) != nil else {
            throw ShardError.invalidConfiguration("bad gateway URL")
        }
        let (inputs, inputContinuation) = AsyncStream.makeStream(of: DriverInput.self)
        let alreadyStopped: Bool? = shared.withLockedValue { state in
            precondition(!state.started, "Shard.run() was called twice")
            state.started = true
            state.inputs = inputContinuation
            return state.stopRequested
        }
        return (inputs, inputContinuation, alreadyStopped)
    }

    /// The main loop, with the machine resuming `restored` when there is one.
    private func makeMainLoop(inputs: AsyncStream<DriverInput>.Continuation, restored: GatewaySession?) throws -> MainLoop {
        guard let gatewayURL = GatewayURL(configuration.gatewayURL) else {
            throw ShardError.invalidConfiguration("bad gateway URL")
        }
        var machineConfiguration = ShardStateMachine.Configuration(gatewayURL: gatewayURL.description)
        machineConfiguration.helloTimeout = configuration.helloTimeout
        machineConfiguration.readyTimeout = configuration.readyTimeout
        machineConfiguration.backoffBase = configuration.backoffBase
        machineConfiguration.backoffCap = configuration.backoffCap
        machineConfiguration.commandWaitLimit = configuration.commandWaitLimit
        machineConfiguration.sessionSaveInterval = configuration.sessionSaveInterval
        let timer = DeadlineTimer(clock: clock, inputs: inputs)
        let saver = SessionSaver(
            store: sessionStore, shardID: configuration.shardID, shardCount: configuration.shardCount, logger: logger,
            initial: restored)
        let loop = MainLoop(
            shard: self, machine: ShardStateMachine(configuration: machineConfiguration, session: restored, seed: seed),
            inputs: inputs, saver: saver, timer: timer)
        if let restored {
            shared.withLockedValue { $0.session = restored }
            logger.info("resuming a stored session", metadata: ["sequence": "\(restored.sequence)"])
        }
        return loop
    }

    /// The end of the input loop: a shard whose task was cancelled closes with a resumable code and
    /// keeps its session; the timers stop, the connection is dropped and the group's children are
    /// cancelled. Returns the connection's channel, for run() to wait for its close.
    @inline(never)
    private func finishLoop(_ running: RunningLoop, in group: inout DiscardingTaskGroup) -> NIOCore.Channel? {
        if !running.loop.machine.isStopped {
            // The task running the shard was cancelled: close with a resumable code, keep the session.
            running.loop.takeSequence()
            running.loop.closeNow(code: running.loop.machine.configuration.resumableCloseCode)
            running.loop.save(running.loop.machine.session)
            setStatus(.stopped(error: nil))
        }
        running.loop.timer.finish()
        let channel = running.loop.finishConnection()
        running.startSpawns(in: &group)
        group.cancelAll()
        return channel
    }
}

/// The main loop of a running shard, on the heap (see ``Shard/run()``), with its input stream. Used
/// by the shard's task only, never shared.
final class RunningLoop {
    var loop: MainLoop
    let inputs: AsyncStream<DriverInput>
    let continuation: AsyncStream<DriverInput>.Continuation
    /// The `keepSession` of a stop requested before run() (nil: none).
    let alreadyStopped: Bool?

    init(
        _ loop: MainLoop, inputs: AsyncStream<DriverInput>, continuation: AsyncStream<DriverInput>.Continuation,
        alreadyStopped: Bool?
    ) {
        self.loop = loop
        self.inputs = inputs
        self.continuation = continuation
        self.alreadyStopped = alreadyStopped
    }

    /// Feeds the loop its inputs (the first being start, or the stop requested before run()) until
    /// the machine stops or the task is cancelled, starting the jobs it asks for in `group`.
    @inline(never)
    func drive(_ group: inout DiscardingTaskGroup) async {
        step(.machine(alreadyStopped.map { .stop(keepSession: $0) } ?? .start, connection: nil), in: &group)
        // A shard stopped before it ran is stopped already: no input would ever come to end the loop.
        var pending = inputs.makeAsyncIterator()
        while !loop.machine.isStopped, let input = await pending.next() {
            step(input, in: &group)
        }
    }

    /// Handles one input and starts the jobs it asks for in `group`. Not inlined: its temporaries
    /// stay on the thread's stack instead of the input loop's async frame.
    @inline(never)
    func step(_ input: DriverInput, in group: inout DiscardingTaskGroup) {
        loop.handle(input)
        startSpawns(in: &group)
    }

    /// Starts the jobs the loop asked for in `group`.
    func startSpawns(in group: inout DiscardingTaskGroup) {
        for job in loop.takeSpawns() { group.addTask(operation: job) }
    }
}
