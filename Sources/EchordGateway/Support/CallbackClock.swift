import NIOCore

/// A clock that runs callbacks itself when its time reaches an instant, for clocks whose time does
/// not pass on its own (a test's manual clock): ``GatewayClock`` schedules a shard's timers on it
/// instead of on an event loop. `EchordTesting`'s `ManualClock` is one.
public protocol CallbackClock: Clock, Sendable where Duration == Swift.Duration {
    /// Runs `body` when the clock reaches `deadline` (at once if it has); returns an id for
    /// ``cancelScheduled(_:)``.
    func schedule(at deadline: Instant, _ body: @escaping @Sendable () -> Void) -> Int
    /// Forgets a callback of ``schedule(at:_:)`` that has not run.
    func cancelScheduled(_ id: Int)
}
