import EchordModels
import Metrics

/// The swift-metrics instruments of cluster mode (any backend: `echord listen --metrics-port`
/// serves them in Prometheus' format).
///
/// - `echord_cluster_shards_held` (gauge): shards whose lease this process holds.
/// - `echord_cluster_lease_renew_seconds` (timer): how long one renewal round took.
/// - `echord_cluster_failovers_total` (counter): leases taken from a holder whose lease had ended.
/// - `echord_cluster_handovers_total` (counter): shards handed over after a graceful stop or rebalance.
/// - `echord_cluster_checkpoints_total` (counter): checkpoints (session saves) written.
/// - `echord_cluster_identify_waits_total` (counter) and `echord_cluster_identify_wait_seconds`
///   (timer): identify turns granted, and how long each waited.
enum ClusterMetrics {
    static let shardsHeld = Gauge(label: "echord_cluster_shards_held")
    static let renewLatency = Timer(label: "echord_cluster_lease_renew_seconds", preferredDisplayUnit: .seconds)
    static let failovers = Counter(label: "echord_cluster_failovers_total")
    static let handovers = Counter(label: "echord_cluster_handovers_total")
    static let checkpoints = Counter(label: "echord_cluster_checkpoints_total")
    static let identifyWaits = Counter(label: "echord_cluster_identify_waits_total")
    static let identifyWaitTime = Timer(label: "echord_cluster_identify_wait_seconds", preferredDisplayUnit: .seconds)

    /// Records the time since `start` (monotonic) on `timer`.
    static func record(_ timer: Timer, since start: ContinuousClock.Instant) {
        timer.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
    }
}
