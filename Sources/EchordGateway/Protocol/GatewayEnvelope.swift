#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EchordModels

/// A gateway message whose envelope (`op`, `s`, `t`) has been read without decoding `d`.
///
/// The scanner reads only what routing needs; `d` stays as bytes until somebody asks for it, so a
/// dispatch nobody subscribed to costs a scan, never a decode. A dispatch whose `d` comes after
/// `op`, `s` and `t` (the order Discord sends) is not even skipped: the scan stops where `d`
/// starts, and the typed decode reads it from there (see ``withData(_:)``).
@_spi(EchordInternals)
public struct GatewayEnvelope: Sendable {
    /// `op`.
    public let opcode: GatewayOpcode
    /// `s`, for dispatches.
    public let sequence: Int?
    /// `t`, for dispatches.
    public let eventName: String?
    /// The kind named by `t`, looked up from its bytes during the scan; nil for a name Echord does
    /// not know or a message without `t`.
    public let eventKind: GatewayEventKind?
    /// The whole message.
    public let bytes: [UInt8]
    /// Where `d` starts (-1: the message has no `d` key).
    private let dataStart: Int
    /// Where `d` ends, or, when the scan stopped at `d` (a negative value), minus one minus the
    /// offset of the message's closing brace: `d` ends there unless other members follow it.
    private let dataEnd: Int

    /// Where `d` lies in ``bytes``; nil when the message has no `d` key.
    ///
    /// When the scan stopped where `d` starts, its end is found now, by scanning the whole message.
    public var dataRange: Range<Int>? {
        guard dataStart >= 0 else { return nil }
        if dataEnd >= 0 { return dataStart..<dataEnd }
        return exactDataRange() ?? dataStart..<(-1 - dataEnd)
    }

    /// The raw JSON of `d` (`null` when absent).
    public var data: ArraySlice<UInt8> {
        guard let dataRange else { return Self.nullJSON[...] }
        return bytes[dataRange]
    }

    private static let nullJSON: [UInt8] = Array("null".utf8)

    /// Calls `body` with the raw JSON of `d` in place (`null` when absent).
    ///
    /// When the scan stopped where `d` starts, `body` gets the bytes from there to the message's
    /// closing brace: `d` and only whitespace after it, unless other members follow `d` (then a
    /// reader of the whole document finds trailing bytes, and ``withExactData(_:)`` is the
    /// answer).
    func withData<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard dataStart >= 0 else { return Self.nullJSON.withUnsafeBytes(body) }
        let end = dataEnd >= 0 ? dataEnd : -1 - dataEnd
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[dataStart..<end])) }
    }

    /// Whether ``withData(_:)`` may lend more than `d` (the scan stopped where `d` starts).
    var dataEndIsTentative: Bool { dataStart >= 0 && dataEnd < 0 }

    /// Calls `body` with the exact raw JSON of `d` (`null` when absent).
    func withExactData<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let dataRange else { return Self.nullJSON.withUnsafeBytes(body) }
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[dataRange])) }
    }

    /// The typed event of a dispatch: `d` decoded as the kind `t` names, as
    /// ``GatewayDispatch/event`` gives it (`unknown` for a name Echord does not know, `failed`
    /// for a payload that does not decode).
    public var event: GatewayEvent {
        let name = eventName ?? ""
        guard let eventKind else { return .unknown(name: name, data: Array(data)) }
        let event = withData { GatewayEvent(kind: eventKind, name: name, data: $0) }
        // The scan stopped where `d` starts; when other members follow `d`, the decode found
        // trailing bytes: decode again from the exact range.
        if case .failed = event, dataEndIsTentative {
            return withExactData { GatewayEvent(kind: eventKind, name: name, data: $0) }
        }
        return event
    }

    /// The range of `d` from a scan of the whole message; nil when the message is malformed.
    private func exactDataRange() -> Range<Int>? {
        bytes.withUnsafeBufferPointer { buffer in
            var scanner = EnvelopeScanner(buffer, stoppingAtData: false)
            return (try? scanner.scanEnvelope())?.d
        }
    }

    /// Reads the envelope of one gateway message.
    ///
    /// A dispatch whose `d` follows `op`, `s` and `t` is scanned up to where `d` starts (after
    /// checking that the message ends with the object's closing brace): members after `d` are not
    /// read, and a malformed `d` shows when it is decoded.
    ///
    /// - Throws: ``GatewayDecodingError`` when the message is not a JSON object with an integer `op`.
    public init(scanning bytes: [UInt8]) throws(GatewayDecodingError) {
        let scanned = bytes.withUnsafeBufferPointer { buffer in
            Result { () throws(GatewayDecodingError) in
                var scanner = EnvelopeScanner(buffer, stoppingAtData: true)
                return try scanner.scanEnvelope()
            }
        }
        let fields = try scanned.get()
        guard let op = fields.op else { throw .missingOpcode }
        self.opcode = GatewayOpcode(rawValue: op)
        self.sequence = fields.s
        self.eventName = fields.t
        self.eventKind = fields.kind
        self.bytes = bytes
        if let d = fields.d {
            self.dataStart = d.lowerBound
            self.dataEnd = fields.dataEndIsTentative ? -1 - d.upperBound : d.upperBound
        } else {
            self.dataStart = -1
            self.dataEnd = -1
        }
    }
}

/// Why a gateway message could not be read.
@_spi(EchordInternals)
public enum GatewayDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a JSON object, or malformed JSON at `offset`.
    case malformed(offset: Int, reason: String)
    /// The object has no integer `op`.
    case missingOpcode

    public var description: String {
        switch self {
        case .malformed(let offset, let reason): "malformed gateway message at byte \(offset): \(reason)"
        case .missingOpcode: "gateway message without an integer op"
        }
    }
}

/// A string-aware byte scanner over one top-level JSON object (strings are skipped as the model reader skips them).
struct EnvelopeScanner {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Whether a dispatch's `d` that follows `op`, `s` and `t` ends the scan where it starts.
    private let stoppingAtData: Bool

    init(_ bytes: UnsafeBufferPointer<UInt8>, stoppingAtData: Bool = false) {
        self.bytes = bytes
        self.stoppingAtData = stoppingAtData
    }

    /// What a scan found. When `dataEndIsTentative`, `d` is where the scan stopped: from where `d`
    /// starts to the message's closing brace.
    struct Fields {
        var op: Int?
        var s: Int?
        var t: String?
        var kind: GatewayEventKind?
        var d: Range<Int>?
        var dataEndIsTentative = false
    }

    private func fail(_ reason: String) -> GatewayDecodingError { .malformed(offset: index, reason: reason) }

    mutating func scanEnvelope() throws(GatewayDecodingError) -> Fields {
        var fields = Fields()
        var seenS = false
        var seenT = false
        skipWhitespace()
        guard next() == UInt8(ascii: "{") else { throw fail("not a JSON object") }
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            skipWhitespace()
            guard index == bytes.count else { throw fail("trailing bytes after the object") }
            return fields
        }
        while true {
            skipWhitespace()
            let key = try readKey()
            skipWhitespace()
            guard next() == UInt8(ascii: ":") else { throw fail("expected ':'") }
            skipWhitespace()
            switch key {
            case .op: fields.op = try readNullableInteger()
            case .s:
                fields.s = try readNullableInteger()
                seenS = true
            case .t:
                (fields.t, fields.kind) = try readEventName()
                seenT = true
            case .d:
                let start = index
                // Scan once: a dispatch's `d` after `op`, `s` and `t` is left to the typed decode.
                if stoppingAtData, seenS, seenT, fields.op == 0, let closing = closingBraceAfterObject(startingAt: start) {
                    fields.d = start..<closing
                    fields.dataEndIsTentative = true
                    return fields
                }
                try skipValue()
                fields.d = start..<index
            case .other: try skipValue()
            }
            skipWhitespace()
            switch next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"):
                skipWhitespace()
                guard index == bytes.count else { throw fail("trailing bytes after the object") }
                return fields
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    private enum Key { case op, s, t, d, other }

    private mutating func readKey() throws(GatewayDecodingError) -> Key {
        guard next() == UInt8(ascii: "\"") else { throw fail("expected a key") }
        let start = index
        try skipStringBody()
        let length = index - start - 1
        if length == 1 {
            switch bytes[start] {
            case UInt8(ascii: "s"): return .s
            case UInt8(ascii: "t"): return .t
            case UInt8(ascii: "d"): return .d
            default: return .other
            }
        }
        if length == 2 && bytes[start] == UInt8(ascii: "o") && bytes[start + 1] == UInt8(ascii: "p") { return .op }
        return .other
    }

    private mutating func readNullableInteger() throws(GatewayDecodingError) -> Int? {
        if try readNull() { return nil }
        var negative = false
        if peek() == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value = 0
        var digits = 0
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (times, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !o1, !o2 else { throw fail("integer overflow") }
            value = sum
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw fail("expected an integer") }
        if let byte = peek(), byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            throw fail("expected an integer, found a fraction")
        }
        return negative ? -value : value
    }

    /// The offset of the closing brace that ends the message, when the value at `start` is an
    /// object and the message ends with `}`, whitespace and `}` (then whitespace): where `d` ends
    /// when it is the last member. Nil otherwise (the value is then skipped as usual).
    private func closingBraceAfterObject(startingAt start: Int) -> Int? {
        guard start < bytes.count, bytes[start] == UInt8(ascii: "{") else { return nil }
        var end = bytes.count
        while end > start, Self.isWhitespace(bytes[end - 1]) { end -= 1 }
        guard end > start + 1, bytes[end - 1] == UInt8(ascii: "}") else { return nil }
        let closing = end - 1
        end = closing
        while end > start, Self.isWhitespace(bytes[end - 1]) { end -= 1 }
        guard end > start + 1, bytes[end - 1] == UInt8(ascii: "}") else { return nil }
        return closing
    }

    /// Reads `t` (a string or null) and the kind it names: a name Echord knows is the kind's own
    /// string, made without an allocation.
    private mutating func readEventName() throws(GatewayDecodingError) -> (String?, GatewayEventKind?) {
        if try readNull() { return (nil, nil) }
        guard next() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        let start = index
        var escaped = false
        try skipStringBody(sawEscape: &escaped)
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<(index - 1)])
        if !escaped {
            if let kind = GatewayEventKind(nameBytes: UnsafeRawBufferPointer(raw)) { return (kind.rawValue, kind) }
            return (String(decoding: raw, as: UTF8.self), nil)
        }
        // Event names never need escapes; decode them properly anyway.
        var copy = EnvelopeScanner(UnsafeBufferPointer(rebasing: bytes[(start - 1)..<index]))
        let name = try copy.decodeEscapedString()
        return (name, GatewayEventKind(name: name))
    }

    private mutating func decodeEscapedString() throws(GatewayDecodingError) -> String {
        index = 1
        var out: [UInt8] = []
        while let byte = next() {
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escape = next() else { throw fail("unterminated escape") }
                switch escape {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    guard index + 4 <= bytes.count,
                        let scalar = UInt32(String(decoding: bytes[index..<(index + 4)], as: UTF8.self), radix: 16)
                    else { throw fail("bad \\u escape") }
                    index += 4
                    out.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
                default: out.append(escape)
                }
            default: out.append(byte)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func readNull() throws(GatewayDecodingError) -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        guard index + 4 <= bytes.count, bytes[index + 1] == UInt8(ascii: "u"), bytes[index + 2] == UInt8(ascii: "l"),
            bytes[index + 3] == UInt8(ascii: "l")
        else { throw fail("bad literal") }
        index += 4
        return true
    }

    /// Skips one JSON value of any kind.
    private mutating func skipValue() throws(GatewayDecodingError) {
        guard let first = peek() else { throw fail("expected a value") }
        switch first {
        case UInt8(ascii: "\""):
            index += 1
            try skipStringBody()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""): try skipStringBody()
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return }
                default: break
                }
            }
            throw fail("unterminated object or array")
        default:
            let start = index
            while let byte = peek(), byte != UInt8(ascii: ","), byte != UInt8(ascii: "}"), byte != UInt8(ascii: "]"),
                !Self.isWhitespace(byte)
            {
                index += 1
            }
            guard index > start else { throw fail("expected a value") }
        }
    }

    /// Moves past the closing quote of a string whose opening quote was consumed, and tells
    /// whether the string has escape sequences.
    private mutating func skipStringBody(sawEscape: inout Bool) throws(GatewayDecodingError) {
        let start = index
        try skipStringBody()
        if let base = bytes.baseAddress, memchr(base + start, Int32(UInt8(ascii: "\\")), index - 1 - start) != nil {
            sawEscape = true
        }
    }

    /// Moves past the closing quote of a string whose opening quote was consumed (found by
    /// ``JSONReader/closingQuote(_:from:count:)``, as the model reader skips strings).
    private mutating func skipStringBody() throws(GatewayDecodingError) {
        guard let base = bytes.baseAddress, let quote = JSONReader.closingQuote(base, from: index, count: bytes.count) else {
            index = bytes.count
            throw fail("unterminated string")
        }
        index = quote + 1
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func next() -> UInt8? {
        guard index < bytes.count else { return nil }
        defer { index += 1 }
        return bytes[index]
    }
}
