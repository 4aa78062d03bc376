import Foundation
import Testing

import EchordModels

@Suite("BotToken")
struct BotTokenTests {
    let token = BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.x")

    @Test("never prints the secret")
    func redactedDescriptions() {
        #expect(token.description == "BotToken(<redacted>)")
        #expect(token.debugDescription == "BotToken(<redacted>)")
        #expect("\(token)" == "BotToken(<redacted>)")
        #expect(String(reflecting: token) == "BotToken(<redacted>)")
        var dumped = ""
        dump(token, to: &dumped)
        #expect(!dumped.contains("MTE5"), "dump must not reveal the token: \(dumped)")
        #expect(token.rawValue == "MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.x")
    }

    @Test("bot user ID from the first segment")
    func userID() {
        #expect(token.botUserID == 1_191_168_914_227_331_073)
        #expect(BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw==.a.b").botUserID == 1_191_168_914_227_331_073)
        #expect(BotToken("my_token").botUserID == nil, "decodes to non-digits")
        #expect(BotToken("").botUserID == nil)
        #expect(BotToken(".a.b").botUserID == nil)
        #expect(BotToken("bm90LWEtbnVtYmVy.a.b").botUserID == nil, "base64 of 'not-a-number'")
    }

    @Test("well-formedness")
    func wellFormed() {
        #expect(token.isWellFormed)
        #expect(!BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake").isWellFormed)
        #expect(!BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw..x").isWellFormed)
        #expect(!BotToken("MTE5MTE2ODkxNDIyNzMzMTA3Mw.a.b.c").isWellFormed)
        #expect(!BotToken("my_token.a.b").isWellFormed)
    }

    @Test("redacting replaces every occurrence")
    func redacting() {
        let raw = token.rawValue
        let text = "identify {\"token\":\"\(raw)\"} then resume \(raw)!"
        let redacted = BotToken.redacting(raw, in: text)
        #expect(redacted == "identify {\"token\":\"<redacted>\"} then resume <redacted>!")
        #expect(!redacted.contains(raw))
        #expect(BotToken.redacting("", in: "abc") == "abc")
    }

    @Test("codes as a plain JSON string")
    func coding() throws {
        #expect(String(decoding: try JSONTesting.encode(token), as: UTF8.self) == "\"MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.x\"")
        #expect(try JSONTesting.decode(BotToken.self, "\"abc\"").rawValue == "abc")
    }
}
