import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The clock a shard waits on, as offsets from when the shard was made. Wraps any `Clock` whose
/// durations are `Duration`: `ContinuousClock` in production, ``ManualClock`` in tests.
///
/// Besides sleeping, the clock runs callbacks at deadlines (``schedule(at:_:)``), which is how a
/// shard keeps its timers without a task per wait: on an event loop of NIO's shared group for
/// `ContinuousClock`, on the clock itself for ``ManualClock``.
public struct GatewayClock: Sendable {
    private let nowOffset: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void
    private let scheduleAt: @Sendable (Duration, @escaping @Sendable () -> Void) -> Wake

    /// A callback scheduled with ``GatewayClock/schedule(at:_:)``.
    struct Wake: Sendable {
        /// Stops the callback if it has not run yet.
        let cancel: @Sendable () -> Void
    }

    /// Wraps `clock`; offsets count from now.
    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        let nowOffset: @Sendable () -> Duration = { origin.duration(to: clock.now) }
        self.nowOffset = nowOffset
        sleepUntil = { try await clock.sleep(until: origin.advanced(by: $0), tolerance: nil) }
        if let manual = clock as? ManualClock {
            let start = manual.now
            scheduleAt = { offset, body in
                let id = manual.schedule(at: start.advanced(by: offset), body)
                return Wake { manual.cancelScheduled(id) }
            }
        } else if clock is ContinuousClock {
            // Real time: a scheduled task on one of NIO's shared event loops (no Swift task).
            scheduleAt = { offset, body in
                let delay = offset - nowOffset()
                let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(
                    in: .nanoseconds(max(0, delay.nanoseconds))) { body() }
                return Wake { scheduled.cancel() }
            }
        } else {
            // Another clock: only its own sleep knows how its time passes, so a task sleeps per
            // deadline (never the case for ContinuousClock or ManualClock).
            scheduleAt = { offset, body in
                let task = Task {
                    guard (try? await clock.sleep(until: origin.advanced(by: offset), tolerance: nil)) != nil else { return }
                    body()
                }
                return Wake { task.cancel() }
            }
        }
    }

    /// The system's monotonic clock.
    public static var continuous: GatewayClock { GatewayClock(ContinuousClock()) }

    /// Time since the clock was wrapped.
    public var now: Duration { nowOffset() }

    /// Sleeps until `offset` (returns at once if it has passed); throws on cancellation.
    public func sleep(until offset: Duration) async throws { try await sleepUntil(offset) }

    /// Sleeps for `duration`.
    public func sleep(for duration: Duration) async throws { try await sleepUntil(now + duration) }

    /// Runs `body` once the clock reaches `offset` (soon, on another thread, if it has passed),
    /// unless the returned wake is cancelled first.
    func schedule(at offset: Duration, _ body: @escaping @Sendable () -> Void) -> Wake { scheduleAt(offset, body) }
}

/// A clock that only moves when told to: tests drive heartbeats, timeouts and backoff without
/// waiting for real time.
public final class ManualClock: Clock, Sendable {
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
    func schedule(at deadline: Instant, _ body: @escaping @Sendable () -> Void) -> Int {
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
    func cancelScheduled(_ id: Int) {
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
