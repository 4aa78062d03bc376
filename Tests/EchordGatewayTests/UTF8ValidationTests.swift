@testable import EchordGateway
import Testing

/// The text-frame check against the standard library's own UTF-8 validation.
@Suite("UTF-8 validation of text frames")
struct UTF8ValidationTests {
    static func reference(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }
    static func validated(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { UTF8Validation.isValid($0) } }

    /// Bytes around every boundary of RFC 3629's table.
    static let edges: [UInt8] = [
        0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
        0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF,
    ]

    @Test("every one- and two-byte sequence, and three- and four-byte ones built from the table's edges, agree with the standard library")
    func exhaustiveShortSequences() {
        var disagreements: [[UInt8]] = []
        func check(_ bytes: [UInt8]) {
            if Self.validated(bytes) != Self.reference(bytes) { disagreements.append(bytes) }
        }
        for a in 0...255 {
            check([UInt8(a)])
            for b in 0...255 { check([UInt8(a), UInt8(b)]) }
        }
        for a in Self.edges { for b in Self.edges { for c in Self.edges {
            check([a, b, c])
            for d in Self.edges { check([a, b, c, d]) }
        } } }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }

    @Test("a multi-byte character, whole or cut short, at every offset across the eight-byte ASCII steps")
    func everyOffset() {
        let characters: [[UInt8]] = [Array("é".utf8), Array("€".utf8), Array("𝄞".utf8), [0xED, 0xA0, 0x80], [0xC0, 0xAF]]
        for character in characters {
            for prefix in 0...17 {
                for suffix in 0...9 {
                    for cut in 0..<character.count {
                        let bytes = Array(repeating: UInt8(ascii: "a"), count: prefix) + character.dropLast(cut)
                            + Array(repeating: UInt8(ascii: "b"), count: suffix)
                        #expect(Self.validated(bytes) == Self.reference(bytes), "\(bytes)")
                    }
                }
            }
        }
    }

    @Test("random text, valid and with one byte changed, agrees with the standard library")
    func randomText() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = ["a", "{\"k\":", "é", "€", "𝄞", "中文", " ", "\\u00e9"].map { Array($0.utf8) }
        for _ in 0..<2000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...40, using: &generator) { bytes += alphabet.randomElement(using: &generator)! }
            #expect(Self.validated(bytes) == true)
            guard !bytes.isEmpty else { continue }
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            #expect(Self.validated(bytes) == Self.reference(bytes), "\(bytes)")
        }
    }
}
