import Metrics

/// The swift-metrics instruments of one shard.
struct ShardMetrics: Sendable {
    let shardID: Int
    let events: Counter
    let bytesIn: Counter
    let bytesOut: Counter
    let latency: Metrics.Timer

    init(shardID: Int) {
        self.shardID = shardID
        let dimensions = [("shard", String(shardID))]
        events = Counter(label: "echord_gateway_events_total", dimensions: dimensions)
        bytesIn = Counter(label: "echord_gateway_bytes_in_total", dimensions: dimensions)
        bytesOut = Counter(label: "echord_gateway_bytes_out_total", dimensions: dimensions)
        latency = Metrics.Timer(label: "echord_gateway_heartbeat_latency", dimensions: dimensions)
    }

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
