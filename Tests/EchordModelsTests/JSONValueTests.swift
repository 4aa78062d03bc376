import Foundation
import Testing

import EchordModels

@Suite("JSONValue")
struct JSONValueTests {
    @Test("decodes every JSON kind")
    func kinds() throws {
        let value = try JSONTesting.decode(
            JSONValue.self, #"{"n":null,"b":true,"i":42,"f":1.5,"s":"x","a":[1,"2",false],"o":{"k":{}}}"#)
        #expect(value["n"] == .null)
        #expect(value["b"] == .bool(true))
        #expect(value["i"] == .number(42))
        #expect(value["f"]?.numberValue == 1.5)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["a"] == .array([.number(1), .string("2"), .bool(false)]))
        #expect(value["o"] == .object(["k": .object([:])]))
        #expect(value["missing"] == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["n"]?.isNull == true)
    }

    @Test("round-trips")
    func roundTrip() throws {
        let value: JSONValue = .object(["a": .array([.null, .bool(false), .number(-3), .string("é")])])
        #expect(try JSONTesting.roundTrip(value) == value)
    }
}
