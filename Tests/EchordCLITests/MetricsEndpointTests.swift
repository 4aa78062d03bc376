import EchordTestSupport
import Foundation
import NIOCore
import Prometheus
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import echord

@Suite("echord listen --metrics-port: the Prometheus endpoint", .timeLimit(.minutes(3 * TestTime.scale)))
struct MetricsEndpointTests {
    @Test("GET /metrics answers the registry in Prometheus' text format; another path gets 404")
    func servesRegistry() async throws {
        let registry = PrometheusCollectorRegistry()
        // As swift-metrics records them once bootstrapped with this factory.
        let factory = PrometheusMetricsFactory(registry: registry)
        factory.makeCounter(label: "echord_cluster_failovers_total", dimensions: []).increment(by: 3)
        factory.makeRecorder(label: "echord_cluster_shards_held", dimensions: [], aggregate: false).record(Int64(4))
        let channel = try await MetricsEndpoint.serve(registry, host: "127.0.0.1", port: 0)
        defer { channel.close(promise: nil) }
        let port = try #require(channel.localAddress?.port)
        let (data, response) = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(port)/metrics")))
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("echord_cluster_failovers_total 3"))
        #expect(text.contains("echord_cluster_shards_held 4"))
        let (_, missing) = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(port)/other")))
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
    }
}
