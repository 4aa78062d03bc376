import EchordSimulator
import Testing
import NIOWebSocket
import NIOCore

@Test(arguments: 0..<4) func zzDebugProbe(i: Int) async throws {
    try await withSimulator { simulator in
        let client = try await TestGatewayClient.connect(port: simulator.port, query: "v=9&encoding=json")
        let r = try? await client.next(timeout: .seconds(3))
        print("PROBE client got", r.map { "\($0)" } ?? "timeout", client.channel.isActive, try await client.channel.pipeline.handler(type: NIOWebSocket.WebSocketFrameEncoder.self).get())
    }
}
