import Foundation
import Testing

import EchordModels

@Suite("GatewayPayload")
struct GatewayPayloadTests {
    @Test("a heartbeat with nil data encodes {\"op\":1,\"d\":null}")
    func heartbeatNull() throws {
        let heartbeat = GatewayPayload<Int>(opcode: .heartbeat, data: nil)
        let object = try JSONTesting.encodeToObject(heartbeat)
        #expect(Set(object.keys) == ["op", "d"])
        #expect(object["op"] as? Int == 1)
        #expect(object["d"] is NSNull)
        #expect(try JSONTesting.encodeToJSON(heartbeat) == .object(["op": .number(1), "d": .null]))
    }

    @Test("a heartbeat with a sequence matches the doc example", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func heartbeatFixture() throws {
        let heartbeat = GatewayPayload<Int>(opcode: .heartbeat, data: 251)
        #expect(try JSONTesting.encodeToJSON(heartbeat) == Fixtures.json("heartbeat.json"))
        let decoded = try Fixtures.payload(Int.self, "heartbeat.json")
        #expect(decoded == heartbeat)
    }

    @Test("s and t are written only when set")
    func dispatchKeys() throws {
        let dispatch = GatewayPayload<JSONValue>(opcode: .dispatch, data: .object([:]), sequence: 42,
                                                 eventName: "GATEWAY_EVENT_NAME")
        #expect(try JSONTesting.encodeToJSON(dispatch)
            == .object(["op": .number(0), "d": .object([:]), "s": .number(42), "t": .string("GATEWAY_EVENT_NAME")]))
        let onlySequence = GatewayPayload<Bool>(opcode: .invalidSession, data: false, sequence: 3)
        #expect(Set(try JSONTesting.encodeToObject(onlySequence).keys) == ["op", "d", "s"])
    }

    @Test("decodes the doc dispatch envelope", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func dispatchEnvelope() throws {
        let payload = try Fixtures.payload(JSONValue.self, "dispatch_envelope_example.json")
        #expect(payload.opcode == .dispatch)
        #expect(payload.sequence == 42)
        #expect(payload.eventName == "GATEWAY_EVENT_NAME")
        #expect(payload.data == .object([:]))
        #expect(try JSONTesting.encodeToJSON(payload) == Fixtures.json("dispatch_envelope_example.json"))
    }

    @Test("missing or null d decodes as nil", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func missingData() throws {
        let ack = try Fixtures.payload(JSONValue.self, "heartbeat_ack.json")
        #expect(ack.opcode == .heartbeatAck)
        #expect(ack.data == nil)
        #expect(ack.sequence == nil)
        #expect(ack.eventName == nil)
        let reconnect = try Fixtures.payload(JSONValue.self, "reconnect.json")
        #expect(reconnect.opcode == .reconnect)
        #expect(reconnect.data == nil)
    }

    @Test("Invalid Session carries a Bool", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func invalidSession() throws {
        let payload = try Fixtures.payload(Bool.self, "invalid_session.json")
        #expect(payload.opcode == .invalidSession)
        #expect(payload.data == false)
        #expect(try JSONTesting.encodeToJSON(payload) == Fixtures.json("invalid_session.json"))
        let remora = try Fixtures.payload(Bool.self, "\(Fixtures.remora)/invalid_session.json")
        #expect(remora.opcode == .invalidSession)
        #expect(remora.data == false)
    }

    @Test("Hello envelopes: doc example and real captures", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func hello() throws {
        let doc = try Fixtures.payload(Hello.self, "hello.json")
        #expect(doc.opcode == .hello)
        #expect(doc.data == Hello(heartbeatInterval: 45_000))
        #expect(try JSONTesting.encodeToJSON(doc) == Fixtures.json("hello.json"))
        let remora = try Fixtures.payload(Hello.self, "\(Fixtures.remora)/hello.json")
        #expect(remora.data?.heartbeatInterval == 4_500)
        let discordBM = try Fixtures.payload(Hello.self, "\(Fixtures.discordBM)/1_hello.decompressed.json")
        #expect(discordBM.opcode == .hello)
        #expect(discordBM.data?.heartbeatInterval == 41_250)
    }

    @Test("decoding rejects a frame without op")
    func missingOpcode() {
        #expect(throws: DecodingError.self) { try JSONTesting.decode(GatewayPayload<JSONValue>.self, #"{"d":null}"#) }
    }
}
