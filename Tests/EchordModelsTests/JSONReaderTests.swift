import Foundation
import Testing

import EchordModels

/// The fast reader on its own: values, malformed input, limits, and agreement with `JSONDecoder`.
@Suite("JSONReader")
struct JSONReaderTests {
    func read<T: JSONReadable>(_ type: T.Type, _ json: String) throws -> T {
        try T(jsonBytes: Array(json.utf8))
    }

    func error(_ body: () throws -> Void) -> JSONDecodingError? {
        do {
            try body()
            return nil
        } catch let error as JSONDecodingError {
            return error
        } catch {
            Issue.record("not a JSONDecodingError: \(error)")
            return nil
        }
    }

    @Test("strings: escapes, surrogate pairs and raw UTF-8 read as JSONDecoder reads them", arguments: [
        #""plain""#, #""a\"b\\c\/d\b\f\n\r\t""#, #""\u00e9\u4e2d\ud83d\ude80""#, #""héllo 中 🚀""#, #""""#,
        #""long \u0041 \" tail after the escape""#,
    ])
    func strings(json: String) throws {
        let reference = try JSONDecoder().decode(String.self, from: Data(json.utf8))
        #expect(try read(String.self, json) == reference)
    }

    @Test("numbers read as JSONDecoder reads them", arguments: ["0", "-1", "42", "9007199254740993", "-9223372036854775808", "1e3", "2.5E-3", "-0.0", "123456789.125"])
    func numbers(json: String) throws {
        #expect(try read(Double.self, json) == JSONDecoder().decode(Double.self, from: Data(json.utf8)))
        if let reference = try? JSONDecoder().decode(Int.self, from: Data(json.utf8)) {
            #expect(try read(Int.self, json) == reference)
        }
    }

    @Test("integers out of range and fractions are typed errors")
    func integerErrors() {
        #expect(error { _ = try read(Int.self, "9223372036854775808") }?.reason == .numberOutOfRange)
        #expect(error { _ = try read(Int.self, "2.5") }?.reason == .numberOutOfRange)
        #expect(error { _ = try read(UInt64.self, "-1") }?.reason == .numberOutOfRange)
        #expect(error { _ = try read(Snowflake.self, #""18446744073709551616""#) }?.reason == .numberOutOfRange)
        #expect((try? read(Int.self, "3.0")) == 3)
    }

    @Test("malformed documents are typed errors with the offset", arguments: [
        (#"{"id":"1""#, JSONDecodingError.Reason.unexpectedEnd),
        (#"{"id":"1"} x"#, .trailingBytes),
        (#"{"id":"1",}"#, .typeMismatch(expected: "a key")),
        (#"{"id" "1"}"#, .typeMismatch(expected: "':'")),
        (#"{"id":"1" "name":"x"}"#, .typeMismatch(expected: "',' or '}'")),
        (#"{"id":"1","bot":tru}"#, .invalidJSON),
        (#"{"id":"1","bot":tru"#, .invalidJSON),
        (#"{"id":"1","bot":trUe}"#, .invalidJSON),
        (#"{"id":"1","bot":fals}"#, .invalidJSON),
        (#"{"id":"1","bot":falsy}"#, .invalidJSON),
        (#"{"id":"1","bot":f"#, .invalidJSON),
        (#"{"id":"1","avatar":nul}"#, .invalidJSON),
        (#"{"id":"1","avatar":nulL}"#, .invalidJSON),
        (#"{"id":"1","unknown":nil}"#, .invalidJSON),
        ("{\"id\":\"1\",\"username\":\"a\u{01}b\"}", .invalidString),
        (#"{"id":"1","username":"\x"}"#, .invalidString),
        (#"{"id":"1","username":"\ud800"}"#, .invalidString),
        (#"[]"#, .typeMismatch(expected: "an object")),
        (#"{"username":"a"}"#, .missingField("id", in: "User")),
        (#"{"id":12.5}"#, .numberOutOfRange),
        ("", .unexpectedEnd),
    ])
    func malformed(json: String, reason: JSONDecodingError.Reason) {
        let failure = error { _ = try read(User.self, json) }
        #expect(failure?.reason == reason, "\(json): \(String(describing: failure))")
        // Foundation's JSONDecoder tolerates a trailing comma; the reader does not.
        if json != #"{"id":"1",}"# {
            #expect((try? JSONDecoder().decode(User.self, from: Data(json.utf8))) == nil, "JSONDecoder accepts \(json)")
        }
    }

    @Test("nesting deeper than the limit is refused, never a stack overflow, in known and skipped fields")
    func depthBomb() {
        let depth = 100_000
        let bomb = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(error { _ = try read(JSONValue.self, bomb) }?.reason == .tooDeep)
        #expect(error { _ = try read(User.self, #"{"id":"1","extra":"# + bomb + "}") }?.reason == .tooDeep)
        #expect(error { _ = try read(Message.self, #"{"id":"1","channel_id":"2","nonce":"# + bomb + "}") }?.reason == .tooDeep)
        func replies(_ count: Int) -> [UInt8] {
            Array((String(repeating: #"{"id":"1","channel_id":"2","referenced_message":"#, count: count) + "null"
                + String(repeating: "}", count: count)).utf8)
        }
        let limit = JSONReader.maximumModelNesting
        #expect(throws: Never.self) { try Message(jsonBytes: replies(limit)) }
        #expect(error { _ = try Message(jsonBytes: replies(limit + 1)) }?.reason == .tooDeep)
        #expect(error { _ = try Message(jsonBytes: replies(1000)) }?.reason == .tooDeep)
    }

    @Test("every truncation of a real payload is an error, never a crash")
    func truncations() throws {
        let bytes = try [UInt8](Fixtures.data("objects/message.json"))
        let end = bytes.lastIndex(of: UInt8(ascii: "}"))!
        for length in 0...end where !bytes[..<length].allSatisfy({ $0 == 0x20 || $0 == 0x0A }) {
            #expect(throws: JSONDecodingError.self) { try Message(jsonBytes: bytes[..<length]) }
        }
        #expect(try Message(jsonBytes: bytes).id == 334_385_199_974_967_042)
    }

    @Test("unknown fields are skipped, whatever their shape")
    func unknownFields() throws {
        let user = try read(User.self, #"{"future":{"a":[1,{"b":"}]"}],"c":null},"id":"7","x\"y":true,"username":"n","z":-1.5e3}"#)
        #expect(user == User(id: 7, username: "n"))
    }

    @Test("keys with escape sequences match nothing (a documented difference from JSONDecoder)")
    func escapedKeys() throws {
        let user = try read(User.self, #"{"id":"7","user\u006eame":"n"}"#)
        #expect(user.username == "")
        #expect(try JSONDecoder().decode(User.self, from: Data(#"{"id":"7","user\u006eame":"n"}"#.utf8)).username == "n")
    }

    @Test("null, absent and defaults decode the same both ways")
    func nullsAndDefaults() throws {
        for json in [#"{"id":"1","channel_id":"2"}"#, #"{"id":"1","channel_id":"2","content":null,"mentions":null,"tts":null}"#] {
            let fast = try read(Message.self, json)
            #expect(fast == (try JSONDecoder().decode(Message.self, from: Data(json.utf8))))
            #expect(fast.content == "" && fast.mentions.isEmpty && fast.tts == false && fast.type == .default)
        }
    }

    @Test("unknown keys are skipped, also those that share a known key's slot in a model's key table")
    func unknownKeysSkipped() throws {
        // Thousands of unknown keys of every JSON type: many land in the slot of a known field of
        // User or Message (their tables have 128 and 256 slots), and must be skipped, not read.
        var unknown = ""
        for i in 0..<3000 {
            let value = [#""v\#(i)""#, "\(i)", #"[1,{"a":null}]"#, #"{"id":"9"}"#, "true", "null"][i % 6]
            unknown += #""k\#(i)":\#(value),"#
        }
        let user = #""id":"80351110224678912","username":"Nelly","discriminator":"1337","avatar":"8342729096ea3675442027381ff50dfe","bot":true"#
        #expect(try read(User.self, "{\(unknown)\(user)}") == read(User.self, "{\(user)}"))
        #expect(try read(User.self, "{\(user),\(unknown.dropLast())}") == read(User.self, "{\(user)}"))
        let message = #""id":"1","channel_id":"2","content":"hello","tts":true,"author":{\#(user)},"mention_roles":["3","4"]"#
        let plain = try read(Message.self, "{\(message)}")
        #expect(try read(Message.self, "{\(unknown)\(message)}") == plain)
        #expect(plain.content == "hello" && plain.author?.username == "Nelly" && plain.mentionRoles.count == 2)
    }
}
