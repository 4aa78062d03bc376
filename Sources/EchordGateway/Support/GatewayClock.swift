/// The clock a shard waits on, as offsets from when the shard was made. Wraps any `Clock` whose
/// durations are `Duration`: `ContinuousClock` in production, `ManualClock` (the `EchordTesting` library) in tests.
public struct GatewayClock: Sendable {
    private let nowOffset: @Sendable () -> Duration
    private let sleepUntil: @Sendable (Duration) async throws -> Void

    /// Wraps `clock`; offsets count from now.
    public init<C: Clock>(_ clock: C) where C.Duration == Duration {
        let origin = clock.now
        nowOffset = { origin.duration(to: clock.now) }
        sleepUntil = { try await clock.sleep(until: origin.advanced(by: $0), tolerance: nil) }
    }

    /// The system's monotonic clock.
    public static var continuous: GatewayClock { GatewayClock(ContinuousClock()) }

    /// Time since the clock was wrapped.
    public var now: Duration { nowOffset() }

    /// Sleeps until `offset` (returns at once if it has passed); throws on cancellation.
    public func sleep(until offset: Duration) async throws { try await sleepUntil(offset) }

    /// Sleeps for `duration`.
    public func sleep(for duration: Duration) async throws { try await sleepUntil(now + duration) }
}
