import NIOConcurrencyHelpers

/// The timers of a shard: named deadlines (the next heartbeat, a HELLO or READY timeout, the
/// reconnect backoff, the oldest held command's expiry, the send limiter's next free slot), each
/// reported to the main loop as an input when it passes.
///
/// No task waits for them: each armed deadline is one callback scheduled on the shard's clock
/// (``GatewayClock/schedule(at:_:)``: a scheduled task on an event loop in production, the manual
/// clock's list in tests). Setting a name again replaces its deadline; a callback that was replaced
/// or cancelled before it ran reports nothing.
final class DeadlineTimer: Sendable {
    /// What a deadline is for.
    enum Name: Hashable, Sendable {
        /// The backoff before the next connection.
        case reconnect
        /// HELLO, READY or RESUMED of a connection.
        case handshake
        /// The next heartbeat of the current connection.
        case heartbeat
        /// The oldest command waiting for the shard to be ready.
        case commandExpiry
        /// The send limiter's next free slot, while commands wait for one.
        case sendPacing
    }

    private struct Armed {
        var generation: Int
        var wake: GatewayClock.Wake?
    }

    private struct State {
        var armed: [Name: Armed] = [:]
        var generation = 0
        var finished = false
    }

    private let clock: GatewayClock
    private let inputs: AsyncStream<DriverInput>.Continuation
    private let state = NIOLockedValueBox(State())

    init(clock: GatewayClock, inputs: AsyncStream<DriverInput>.Continuation) {
        self.clock = clock
        self.inputs = inputs
    }

    /// Reports `fire` when the clock reaches `at` (replacing any deadline named `name`).
    func set(_ name: Name, at: Duration, fire: DriverInput) {
        let armed: (generation: Int, replaced: GatewayClock.Wake?)? = state.withLockedValue { state in
            guard !state.finished else { return nil }
            state.generation += 1
            let replaced = state.armed.updateValue(Armed(generation: state.generation, wake: nil), forKey: name)
            return (state.generation, replaced?.wake)
        }
        guard let armed else { return }
        armed.replaced?.cancel()
        // Scheduled outside the lock: a deadline already passed runs its callback at once.
        let wake = clock.schedule(at: at) { [weak self] in self?.fire(name, generation: armed.generation, input: fire) }
        let stale = state.withLockedValue { state -> Bool in
            guard state.armed[name]?.generation == armed.generation else { return true }
            state.armed[name]?.wake = wake
            return false
        }
        if stale { wake.cancel() }
    }

    /// Forgets the deadline named `name`.
    func cancel(_ name: Name) {
        state.withLockedValue { $0.armed.removeValue(forKey: name)?.wake }?.cancel()
    }

    /// Forgets every deadline; later ``set(_:at:fire:)`` calls do nothing.
    func finish() {
        let wakes = state.withLockedValue { state -> [GatewayClock.Wake] in
            state.finished = true
            defer { state.armed = [:] }
            return state.armed.values.compactMap(\.wake)
        }
        wakes.forEach { $0.cancel() }
    }

    /// Whether a deadline named `name` is armed.
    func isArmed(_ name: Name) -> Bool { state.withLockedValue { $0.armed[name] != nil } }

    private func fire(_ name: Name, generation: Int, input: DriverInput) {
        let current = state.withLockedValue { state -> Bool in
            guard state.armed[name]?.generation == generation else { return false }
            state.armed[name] = nil
            return true
        }
        if current { inputs.yield(input) }
    }
}
