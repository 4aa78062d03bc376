@_spi(EchordInternals) import EchordGateway
import EchordModels
import Foundation
import Testing

@Suite("GatewayEnvelope")
struct GatewayEnvelopeTests {
    @Test("reads op, s and t and the exact range of d, in any key order")
    func dispatch() throws {
        let text = #"{"t":"MESSAGE_CREATE","s":42,"op":0,"d":{"content":"a \"quoted\" } ] brace","nested":[1,{"x":"}"}]}}"#
        let envelope = try GatewayEnvelope(scanning: Array(text.utf8))
        #expect(envelope.opcode == .dispatch)
        #expect(envelope.sequence == 42)
        #expect(envelope.eventName == "MESSAGE_CREATE")
        #expect(String(decoding: envelope.data, as: UTF8.self) == #"{"content":"a \"quoted\" } ] brace","nested":[1,{"x":"}"}]}"#)
        let reordered = try GatewayEnvelope(scanning: Array(#" { "d" : [1, 2] , "op" : 0 , "s" : 7 , "t" : "X" } "#.utf8))
        #expect(reordered.sequence == 7 && reordered.eventName == "X")
        #expect(String(decoding: reordered.data, as: UTF8.self) == "[1, 2]")
    }

    @Test("null s and t, a missing d, and unknown keys")
    func controlFrames() throws {
        let ack = try GatewayEnvelope(scanning: Array(#"{"op":11}"#.utf8))
        #expect(ack.opcode == .heartbeatAck && ack.sequence == nil && ack.eventName == nil && ack.dataRange == nil)
        #expect(Array(ack.data) == Array("null".utf8))
        let hello = try GatewayEnvelope(scanning: Array(#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250,"_trace":["x"]},"extra":true}"#.utf8))
        #expect(hello.opcode == .hello && hello.sequence == nil)
        let invalid = try GatewayEnvelope(scanning: Array(#"{"op":9,"d":false}"#.utf8))
        #expect(Array(invalid.data) == Array("false".utf8))
    }

    @Test("scan once: the typed event of a d the scan stopped at, also when members follow d")
    func scanOnce() throws {
        let message = #"{"id":"80351110224678912","channel_id":"81384788765712384","content":"hi } there"}"#
        for text in [
            #"{"t":"MESSAGE_CREATE","s":3,"op":0,"d":\#(message)}"#,
            #" { "t" : "MESSAGE_CREATE" , "s" : 3 , "op" : 0 , "d" : \#(message) } "#,
            #"{"t":"MESSAGE_CREATE","s":3,"op":0,"d":\#(message),"extra":{"a":[1,"}"]}}"#,
            #"{"d":\#(message),"t":"MESSAGE_CREATE","s":3,"op":0}"#,
        ] {
            let envelope = try GatewayEnvelope(scanning: Array(text.utf8))
            #expect(envelope.sequence == 3 && envelope.eventName == "MESSAGE_CREATE" && envelope.eventKind == .messageCreate)
            #expect(String(decoding: envelope.data, as: UTF8.self) == message, "\(text)")
            guard case .messageCreate(let created) = envelope.event else {
                Issue.record("\(envelope.event) from \(text)")
                continue
            }
            #expect(created.content == "hi } there" && created.id == Snowflake(rawValue: 80351110224678912))
        }
        // A d the scan stopped at that is not JSON is a decode failure with its bytes, never a crash.
        let broken = try GatewayEnvelope(scanning: Array(#"{"t":"MESSAGE_CREATE","s":4,"op":0,"d":{"id":"1","content":"x}}"#.utf8))
        #expect(broken.sequence == 4)
        guard case .failed(let failure) = broken.event else {
            Issue.record("expected a failure, got \(broken.event)")
            return
        }
        #expect(failure.name == "MESSAGE_CREATE")
        // A message that does not end with `}` after d's closing `}` is still refused by the scan.
        for truncated in [#"{"t":"MESSAGE_CREATE","s":4,"op":0,"d":{"id":"1"}"#, #"{"t":"MESSAGE_CREATE","s":4,"op":0,"d":{"id":"1""#] {
            #expect(throws: GatewayDecodingError.self) { try GatewayEnvelope(scanning: Array(truncated.utf8)) }
        }
    }

    @Test("the kind is looked up from the bytes of t: every known name, and near misses are unknown")
    func kindFromNameBytes() throws {
        for kind in GatewayEventKind.allCases {
            let envelope = try GatewayEnvelope(scanning: Array(#"{"t":"\#(kind.rawValue)","s":1,"op":0,"d":{}}"#.utf8))
            #expect(envelope.eventKind == kind && envelope.eventName == kind.rawValue)
        }
        for name in ["MESSAGE_CREATF", "MESSAGE_CREATE_", "message_create", "", "NOT_A_DISPATCH", "MESSAGE_CREA\\u0054E"] {
            let envelope = try GatewayEnvelope(scanning: Array(#"{"t":"\#(name)","s":1,"op":0,"d":{}}"#.utf8))
            let expected = name.hasSuffix("\\u0054E") ? GatewayEventKind.messageCreate : nil
            #expect(envelope.eventKind == expected, "\(name)")
        }
    }

    @Test("an event name with escapes is decoded")
    func escapedName() throws {
        let envelope = try GatewayEnvelope(scanning: Array(#"{"op":0,"s":1,"t":"A\u0042C\n","d":null}"#.utf8))
        #expect(envelope.eventName == "ABC\n")
    }

    @Test("bad input is a typed error, never a crash", arguments: [
        "", "[]", "{", #"{"op":"#, #"{"op":1.5}"#, #"{"op":"1"}"#, #"{"s":1}"#, #"{"op":0,"d":{"a":"unterminated}"#,
        #"{"op":0} trailing"#, #"{"op":99999999999999999999999}"#, "null", #"{"op":0,"t":nul}"#,
    ])
    func malformed(text: String) {
        #expect(throws: GatewayDecodingError.self) { try GatewayEnvelope(scanning: Array(text.utf8)) }
    }

    @Test("agrees with JSONSerialization on every real capture",
          .enabled(if: SharedFixtures.available, "../shared/fixtures is not beside this checkout"))
    func realCaptures() throws {
        let folder = SharedFixtures.directory!.appendingPathComponent("real/Remora.Discord__scrubbed-captures_a6b1c22")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 10)
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(file)))
            let envelope = try GatewayEnvelope(scanning: bytes)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
            #expect(envelope.opcode.rawValue == object["op"] as? Int, "\(file)")
            #expect(envelope.sequence == object["s"] as? Int, "\(file)")
            #expect(envelope.eventName == object["t"] as? String, "\(file)")
            let whole = try JSONDecoder().decode([String: JSONValue].self, from: Data(bytes))
            let d = try JSONDecoder().decode(JSONValue.self, from: Data(envelope.data))
            #expect(d == (whole["d"] ?? .null), "\(file)")
        }
    }
}

@Suite("SendLimiter")
struct SendLimiterTests {
    @Test("commands fill the window less the heartbeat reserve; heartbeats use the rest")
    func reserve() {
        var limiter = SendLimiter(limit: 120, window: .seconds(60), reservedForHeartbeats: 3)
        for i in 0..<117 {
            #expect(limiter.delay(isHeartbeat: false, now: .milliseconds(i)) == .zero)
            limiter.record(now: .milliseconds(i))
        }
        #expect(limiter.delay(isHeartbeat: false, now: .seconds(1)) == .seconds(59))
        for _ in 0..<3 {
            #expect(limiter.delay(isHeartbeat: true, now: .seconds(1)) == .zero)
            limiter.record(now: .seconds(1))
        }
        #expect(limiter.count(now: .seconds(1)) == 120)
        #expect(limiter.delay(isHeartbeat: true, now: .seconds(1)) > .zero)
    }

    @Test("the window slides: a slot frees exactly when its frame is 60 s old")
    func sliding() {
        var limiter = SendLimiter(limit: 4, window: .seconds(60), reservedForHeartbeats: 0)
        for t in [0, 10, 20, 30] { limiter.record(now: .seconds(t)) }
        #expect(limiter.delay(isHeartbeat: false, now: .seconds(40)) == .seconds(20))
        #expect(limiter.delay(isHeartbeat: false, now: .seconds(60)) == .zero)
        limiter.record(now: .seconds(60))
        #expect(limiter.delay(isHeartbeat: false, now: .seconds(61)) == .seconds(9))
        #expect(limiter.count(now: .seconds(61)) == 4)
    }

    @Test("hours of sends, in bursts and idle stretches, keep the window exact: old frames are dropped, never the ones in the window")
    func longLife() {
        var limiter = SendLimiter(limit: 10, window: .seconds(60), reservedForHeartbeats: 2)
        var sentAt: [Duration] = []
        var now = Duration.zero
        for round in 0..<400 {
            // A burst of commands as fast as the limiter allows, then an idle stretch of heartbeats.
            for _ in 0..<(round % 3 == 0 ? 12 : 1) {
                let delay = limiter.delay(isHeartbeat: false, now: now)
                now += delay
                limiter.record(now: now)
                sentAt.append(now)
            }
            now += .seconds(round % 5 == 0 ? 41 : 7)
            let inWindow = sentAt.filter { now - $0 < .seconds(60) }.count
            #expect(limiter.count(now: now) == inWindow, "round \(round)")
        }
    }
}

@Suite("GatewayURL")
struct GatewayURLTests {
    @Test("parses ws and wss URLs and builds the request target")
    func parse() throws {
        let discord = try #require(GatewayURL("wss://gateway.discord.gg"))
        #expect(discord.secure && discord.host == "gateway.discord.gg" && discord.port == 443 && discord.path == "/")
        #expect(discord.requestTarget(compression: .zlibStream) == "/?v=10&encoding=json&compress=zlib-stream")
        let local = try #require(GatewayURL("ws://127.0.0.1:8080/resume?v=9"))
        #expect(!local.secure && local.port == 8080 && local.path == "/resume")
        #expect(local.requestTarget(compression: .none) == "/resume?v=10&encoding=json")
        #expect(GatewayURL("ws://[::1]:9000/gateway")?.host == "::1")
        let injected = ["ws://host/gateway\r\nX-Injected: yes", "wss://host/a b", "ws://ho\u{0}st/", "ws://host/\u{85}"]
        for bad in ["http://x", "ws://", "ws://host:0", "ws://host:99999", "gateway.discord.gg"] + injected {
            #expect(GatewayURL(bad) == nil, "\(bad)")
        }
    }
}
