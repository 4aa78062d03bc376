import EchordGateway
import NIOConcurrencyHelpers

/// A clock that only moves when told to: tests drive heartbeats, timeouts and backoff without
/// waiting for real time. Wrap it in a `GatewayClock` to hand it to a `Shard`, a `ShardManager` or
/// an identify queue; it runs the shard's timers itself (see `CallbackClock`).
public final class ManualClock: CallbackClock {
    /// A point on the manual clock.
    public struct Instant: InstantProtocol, Sendable {
        /// Time since the clock was made.
        public var offset: Duration
        /// The instant `offset` after the clock's start.
        public init(offset: Duration) { self.offset = offset }
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        enum Waker {
            case task(CheckedContinuation<Void, Error>)
            case callback(@Sendable () -> Void)
        }
        let id: Int
        let deadline: Instant
        let waker: Waker

        func wake() {
            switch waker {
            case .task(let continuation): continuation.resume()
            case .callback(let body): body()
            }
        }
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID = 0
    }

    private let state = NIOLockedValueBox(State())

    /// A clock at offset zero.
    public init() {}

    public var now: Instant { state.withLockedValue { $0.now } }
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// The number of tasks sleeping on the clock (and of callbacks a shard's timer scheduled on it).
    public var sleeperCount: Int { state.withLockedValue { $0.sleepers.count } }

    /// The earliest deadline a task sleeps until (or a scheduled callback waits for), if any.
    public var nextDeadline: Instant? { state.withLockedValue { $0.sleepers.map(\.deadline).min() } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id = state.withLockedValue { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let resumeNow: Bool = state.withLockedValue { state in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, waker: .task(continuation)))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLockedValue { state -> Sleeper? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index)
            }
            if case .task(let continuation) = cancelled?.waker { continuation.resume(throwing: CancellationError()) }
        }
        try Task.checkCancellation()
    }

    /// Runs `body` when the clock reaches `deadline` (at once if it has); an id for ``cancelScheduled(_:)``.
    public func schedule(at deadline: Instant, _ body: @escaping @Sendable () -> Void) -> Int {
        let (id, runNow) = state.withLockedValue { state -> (Int, Bool) in
            state.nextID += 1
            if deadline <= state.now { return (state.nextID, true) }
            state.sleepers.append(Sleeper(id: state.nextID, deadline: deadline, waker: .callback(body)))
            return (state.nextID, false)
        }
        if runNow { body() }
        return id
    }

    /// Forgets a callback of ``schedule(at:_:)`` that has not run.
    public func cancelScheduled(_ id: Int) {
        state.withLockedValue { state in state.sleepers.removeAll { $0.id == id } }
    }

    /// Moves the clock forward by `duration` and wakes every sleeper whose deadline passed, in
    /// deadline order.
    public func advance(by duration: Duration) {
        let due = state.withLockedValue { state -> [Sleeper] in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.wake() }
    }
}
