import Foundation
import Testing

import EchordModels

@Suite("GatewayOpcode")
struct GatewayOpcodeTests {
    @Test("constants carry the documented numbers")
    func rawValues() {
        let expected: [(GatewayOpcode, Int)] = [
            (.dispatch, 0), (.heartbeat, 1), (.identify, 2), (.presenceUpdate, 3), (.voiceStateUpdate, 4),
            (.resume, 6), (.reconnect, 7), (.requestGuildMembers, 8), (.invalidSession, 9), (.hello, 10),
            (.heartbeatAck, 11), (.requestSoundboardSounds, 31), (.requestChannelInfo, 43),
        ]
        for (opcode, raw) in expected {
            #expect(opcode.rawValue == raw)
            #expect(opcode.name != nil, "opcode \(raw) should have a name")
        }
    }

    @Test("direction flags follow the opcode table")
    func directions() {
        let client: Set<Int> = [1, 2, 3, 4, 6, 8, 31, 43]
        let server: Set<Int> = [0, 1, 7, 9, 10, 11]
        for raw in 0...50 {
            let opcode = GatewayOpcode(rawValue: raw)
            #expect(opcode.isSentByClient == client.contains(raw), "client flag of op \(raw)")
            #expect(opcode.isSentByServer == server.contains(raw), "server flag of op \(raw)")
        }
        #expect(Set(GatewayOpcode.clientOpcodes.map(\.rawValue)) == client)
    }

    @Test("unknown opcodes are kept, unnamed and described")
    func unknown() throws {
        let opcode = try JSONTesting.decode(GatewayOpcode.self, "5")
        #expect(opcode.rawValue == 5)
        #expect(opcode.name == nil)
        #expect(opcode.description == "Unknown (5)")
        #expect(GatewayOpcode.hello.description == "Hello (10)")
        #expect(GatewayOpcode.heartbeatAck.name == "Heartbeat ACK")
    }

    @Test("encodes as a bare integer")
    func encoding() throws {
        #expect(String(decoding: try JSONTesting.encode(GatewayOpcode.requestChannelInfo), as: UTF8.self) == "43")
    }
}
