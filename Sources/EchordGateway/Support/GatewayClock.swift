import EchordModels
import NIOCore
import NIOPosix

/// The clock a shard waits on, as offsets from when the shard was made. Wraps any `Clock` whose
/// durations are `Duration`: `ContinuousClock` in production, `ManualClock` (the `EchordTesting` library) in tests.
///
/// Besides sleeping, the clock runs callbacks at deadlines (`schedule(at:_:)`, internal), which is how a
/// shard keeps its timers without a task per wait: on an event loop of NIO's shared group for
/// `ContinuousClock`, on the clock itself for a ``CallbackClock`` such as `EchordTesting`'s `ManualClock`.
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
        if let callbacks = clock as? any CallbackClock {
            scheduleAt = Self.scheduler(on: callbacks)
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
            // deadline (never the case for ContinuousClock or a CallbackClock).
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

    /// Schedules on `clock` itself, counting offsets from now.
    private static func scheduler<C: CallbackClock>(
        on clock: C
    ) -> @Sendable (Duration, @escaping @Sendable () -> Void) -> Wake {
        let start = clock.now
        return { offset, body in
            let id = clock.schedule(at: start.advanced(by: offset), body)
            return Wake { clock.cancelScheduled(id) }
        }
    }

    /// Runs `body` once the clock reaches `offset` (soon, on another thread, if it has passed),
    /// unless the returned wake is cancelled first.
    func schedule(at offset: Duration, _ body: @escaping @Sendable () -> Void) -> Wake { scheduleAt(offset, body) }
}
