import EchordModels

/// The shard's seedable generator: EchordModels' SplitMix64, with the draws the machine needs.
typealias ShardRandom = SplitMix64

extension SplitMix64 {
    /// Uniform in [0, 1).
    mutating func unitInterval() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Uniform in `range`.
    mutating func duration(in range: ClosedRange<Duration>) -> Duration {
        range.lowerBound + (range.upperBound - range.lowerBound) * unitInterval()
    }
}
