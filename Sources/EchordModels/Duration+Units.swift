/// Conversions of `Duration` for APIs that count in nanoseconds or seconds (NIO's `TimeAmount`,
/// swift-metrics timers, the simulator's manual clock, SQL intervals). Shared by every Echord
/// module, like ``SplitMix64``.
extension Duration {
    /// Whole nanoseconds, truncated toward zero and saturating at `Int64.min` / `Int64.max`.
    package var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = product.addingReportingOverflow(attoseconds / 1_000_000_000)
        if sumOverflow { return product < 0 ? .min : .max }
        return sum
    }

    /// Seconds, as a `Double` (fractions kept).
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
