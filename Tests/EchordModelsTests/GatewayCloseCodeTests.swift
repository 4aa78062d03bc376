import Testing

import EchordModels

@Suite("GatewayCloseCode")
struct GatewayCloseCodeTests {
    @Test("constants carry the documented numbers")
    func rawValues() {
        let expected: [(GatewayCloseCode, UInt16)] = [
            (.normalClosure, 1000), (.goingAway, 1001), (.unknownError, 4000), (.unknownOpcode, 4001),
            (.decodeError, 4002), (.notAuthenticated, 4003), (.authenticationFailed, 4004),
            (.alreadyAuthenticated, 4005), (.invalidSequence, 4007), (.rateLimited, 4008),
            (.sessionTimedOut, 4009), (.invalidShard, 4010), (.shardingRequired, 4011),
            (.invalidAPIVersion, 4012), (.invalidIntents, 4013), (.disallowedIntents, 4014),
        ]
        for (code, raw) in expected {
            #expect(code.rawValue == raw)
            #expect(code.name != "Unknown close code", "\(raw) should be named")
        }
    }

    @Test("recovery follows the spec §3 practice table", arguments: [
        (UInt16(4000), GatewayCloseCode.Recovery.resume), (4001, .resume), (4002, .resume), (4005, .resume),
        (4008, .resume), (1006, .resume), (1000, .resume), (1001, .resume), (1011, .resume), (1012, .resume),
        (4003, .newSession), (4007, .newSession), (4009, .newSession), (4006, .newSession), (4900, .newSession),
        (4004, .fatal), (4010, .fatal), (4011, .fatal), (4012, .fatal), (4013, .fatal), (4014, .fatal),
    ])
    func recovery(raw: UInt16, expected: GatewayCloseCode.Recovery) {
        #expect(GatewayCloseCode(rawValue: raw).recovery == expected)
    }

    @Test("only 1000 and 1001 end the session when the client sends them")
    func clientClose() {
        for raw: UInt16 in [999, 1000, 1001, 1002, 1006, 4000, 4009] {
            #expect(GatewayCloseCode(rawValue: raw).endsSessionWhenSentByClient == (raw == 1000 || raw == 1001))
        }
    }

    @Test("names, explanations and descriptions")
    func texts() {
        #expect(GatewayCloseCode.authenticationFailed.name == "Authentication failed")
        #expect(GatewayCloseCode.authenticationFailed.description == "4004 (Authentication failed)")
        #expect(GatewayCloseCode(rawValue: 4999).name == "Unknown close code")
        let explanations = Set((4000...4014).filter { $0 != 4006 }.map {
            GatewayCloseCode(rawValue: UInt16($0)).explanation
        })
        #expect(explanations.count == 14, "each documented code has its own explanation")
        #expect(GatewayCloseCode.invalidShard.explanation.contains("shard"))
    }
}
