import EchordGateway
import EchordTestSupport
import Metrics
import MetricsTestKit
import Testing

/// The shard's swift-metrics instruments, seen through a metrics backend bound to the test's task
/// (swift-metrics' task-local factory, so no process-wide bootstrap).
@Suite("Shard metrics", .timeLimit(.minutes(3 * TestTime.scale)))
struct ShardMetricsTests {
    @Test("a shard made with a metrics backend counts its dispatches and its bytes in and out, under its shard dimension")
    func countsWithBackend() async throws {
        let metrics = TestMetrics()
        try await withMetricsFactory(metrics) {
            try await Harness.with { harness, _ in
                let events = EventCollector(harness.shard)
                try await harness.waitForStatus { $0 == .ready }
                for n in 0..<3 {
                    try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))]))
                }
                try await harness.eventually { events.count(of: "TEST_EVENT") == 3 }
            }
        }
        let shard = [("shard", "0")]
        // READY, the two GUILD_CREATEs and the three events, at least.
        #expect(metrics.counterTotal(label: "echord_gateway_events_total", dimensions: shard) >= 6)
        #expect(metrics.counterTotal(label: "echord_gateway_bytes_in_total", dimensions: shard) > 0)
        // The IDENTIFY, at least.
        #expect(metrics.counterTotal(label: "echord_gateway_bytes_out_total", dimensions: shard) > 0)
    }
}
