import Metrics

/// The swift-metrics instruments of one shard.
///
/// A shard made while no metrics backend is bootstrapped keeps no instruments: swift-metrics fixes
/// an instrument's handler when the instrument is made, so ones made then would record nothing
/// after a later bootstrap either. A bot without metrics pays nothing for them per shard.
struct ShardMetrics: Sendable {
    let shardID: Int
    private let instruments: Instruments?

    private struct Instruments: Sendable {
        let events: Counter
        let bytesIn: Counter
        let bytesOut: Counter
        let latency: Metrics.Timer
    }

    init(shardID: Int) {
        self.shardID = shardID
        guard !(MetricsSystem.factory is NOOPMetricsHandler) else {
            instruments = nil
            return
        }
        let dimensions = [("shard", String(shardID))]
        instruments = Instruments(
            events: Counter(label: "echord_gateway_events_total", dimensions: dimensions),
            bytesIn: Counter(label: "echord_gateway_bytes_in_total", dimensions: dimensions),
            bytesOut: Counter(label: "echord_gateway_bytes_out_total", dimensions: dimensions),
            latency: Metrics.Timer(label: "echord_gateway_heartbeat_latency", dimensions: dimensions))
    }

    /// Counts a dispatch received (`echord_gateway_events_total`).
    func countEvent() { instruments?.events.increment() }

    /// Counts the bytes of a received frame, as on the wire (`echord_gateway_bytes_in_total`).
    func countBytesIn(_ count: Int) { instruments?.bytesIn.increment(by: Int64(count)) }

    /// Counts the bytes of a sent frame (`echord_gateway_bytes_out_total`).
    func countBytesOut(_ count: Int) { instruments?.bytesOut.increment(by: Int64(count)) }

    /// Records a heartbeat's round trip (`echord_gateway_heartbeat_latency`).
    func recordLatency(_ latency: Duration) { instruments?.latency.recordNanoseconds(latency.nanoseconds) }

    /// Messages that could not be decoded (rare: made on use, not kept per shard).
    var decodeFailures: Counter {
        Counter(label: "echord_gateway_decode_failures_total", dimensions: [("shard", String(shardID))])
    }

    /// Reconnects by reason (a small fixed set of reasons, so the label stays low-cardinality).
    func reconnect(reason: DisconnectReason) {
        Counter(label: "echord_gateway_reconnects_total", dimensions: [("shard", String(shardID)), ("reason", reason.metricLabel)])
            .increment()
    }
}
