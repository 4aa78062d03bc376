import NIOConcurrencyHelpers

/// The one timer of a shard: named deadlines (the next heartbeat, a HELLO or READY timeout, the
/// reconnect backoff, the oldest held command's expiry), each reported to the main loop as an input
/// when it passes, instead of a sleeping task per wait. (The send limiter's wait for a free slot,
/// during a burst of commands, is the one other sleep of a shard.)
///
/// ``run(clock:inputs:)`` is one child task of the shard. It sleeps on the shard's clock until the
/// earliest deadline (never more than one sleep at a time); setting an earlier deadline, cancelling
/// one, or ``finish()`` wakes it to sleep again, or to end. Setting a name again replaces its
/// deadline.
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
    }

    private struct Deadline {
        var at: Duration
        var fire: DriverInput
    }

    private struct State {
        var deadlines: [Name: Deadline] = [:]
        /// Bumped by every change, so a sleeper knows its target may be stale.
        var version = 0
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private enum Step {
        case sleep(until: Duration, version: Int)
        case wait(version: Int)
        case end
    }

    private let state = NIOLockedValueBox(State())

    /// Reports `fire` when the clock reaches `at` (replacing any deadline named `name`).
    func set(_ name: Name, at: Duration, fire: DriverInput) {
        change { $0.deadlines[name] = Deadline(at: at, fire: fire) }
    }

    /// Forgets the deadline named `name`.
    func cancel(_ name: Name) {
        change { $0.deadlines[name] = nil }
    }

    /// Ends ``run(clock:inputs:)``.
    func finish() {
        change { $0.finished = true }
    }

    private func change(_ body: (inout State) -> Void) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
            body(&state)
            state.version += 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits until the state changes after `version` (returns at once if it has).
    private func changed(since version: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLockedValue { state -> Bool in
                    if state.version != version || state.finished || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }

    /// Reports deadlines as they pass, until ``finish()`` or cancellation.
    func run(clock: GatewayClock, inputs: AsyncStream<DriverInput>.Continuation) async {
        while !Task.isCancelled {
            let now = clock.now
            var due: [DriverInput] = []
            let step: Step = state.withLockedValue { state in
                if state.finished { return .end }
                for (name, deadline) in state.deadlines.sorted(by: { $0.value.at < $1.value.at }) where deadline.at <= now {
                    due.append(deadline.fire)
                    state.deadlines[name] = nil
                }
                if !due.isEmpty { state.version += 1 }
                guard let earliest = state.deadlines.values.map(\.at).min() else { return .wait(version: state.version) }
                return .sleep(until: earliest, version: state.version)
            }
            for input in due { inputs.yield(input) }
            switch step {
            case .end:
                return
            case .wait(let version):
                await changed(since: version)
            case .sleep(let until, let version):
                // One sleep, abandoned when the deadlines change before it ends.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { try? await clock.sleep(until: until) }
                    group.addTask { await self.changed(since: version) }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
    }
}
