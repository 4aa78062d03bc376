extension JSONReader {
    /// Finishes a string that has escape sequences; `start` is just after its opening quote.
    mutating func readEscapedString(from start: Int) throws -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(offset - start + 16)
        bytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: offset - start))
        while offset < count {
            let byte = base[offset]
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: bytes, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard offset < count else { throw JSONDecodingError(.unexpectedEnd, offset: offset) }
                let escaped = base[offset]
                offset += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(escaped)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"): try appendUnicodeEscape(to: &bytes)
                default: throw JSONDecodingError(.invalidString, offset: offset - 1)
                }
            default:
                guard byte >= 0x20 else { throw JSONDecodingError(.invalidString, offset: offset - 1) }
                bytes.append(byte)
            }
        }
        throw JSONDecodingError(.unexpectedEnd, offset: offset)
    }

    private mutating func hexQuad() throws -> UInt32 {
        guard count - offset >= 4 else { throw JSONDecodingError(.unexpectedEnd, offset: offset) }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = base[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw JSONDecodingError(.invalidString, offset: offset)
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    /// Appends the UTF-8 of a `\uXXXX` escape (its `\u` consumed), joining surrogate pairs.
    private mutating func appendUnicodeEscape(to bytes: inout [UInt8]) throws {
        var scalarValue = try hexQuad()
        if (0xD800..<0xDC00).contains(scalarValue) {
            guard count - offset >= 6, base[offset] == UInt8(ascii: "\\"), base[offset + 1] == UInt8(ascii: "u") else {
                throw JSONDecodingError(.invalidString, offset: offset)
            }
            offset += 2
            let low = try hexQuad()
            guard (0xDC00..<0xE000).contains(low) else { throw JSONDecodingError(.invalidString, offset: offset) }
            scalarValue = 0x10000 + ((scalarValue - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalarValue) {
            throw JSONDecodingError(.invalidString, offset: offset)
        }
        guard let scalar = Unicode.Scalar(scalarValue) else { throw JSONDecodingError(.invalidString, offset: offset) }
        bytes.append(contentsOf: UTF8.encode(scalar)!)
    }
}

/// Why JSON bytes could not be read as the model asked for.
public struct JSONDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public enum Reason: Hashable, Sendable {
        /// The bytes ended inside a value.
        case unexpectedEnd
        /// The bytes are not JSON.
        case invalidJSON
        /// A string has a control character or a bad escape sequence.
        case invalidString
        /// Something other than whitespace follows the value.
        case trailingBytes
        /// Arrays and objects nest deeper than ``JSONReader/maximumDepth``.
        case tooDeep
        /// A number does not fit the type asked for.
        case numberOutOfRange
        /// A value of another JSON type was found.
        case typeMismatch(expected: String)
        /// A value of the right JSON type has a form the model does not accept.
        case invalidValue(String)
        /// An object lacks a member the model requires.
        case missingField(String, in: String)
    }

    /// What went wrong.
    public var reason: Reason
    /// The byte offset in the document where it went wrong.
    public var offset: Int

    /// Creates an error.
    public init(_ reason: Reason, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    /// A one-line explanation with the offset.
    public var description: String {
        let what: String = switch reason {
        case .unexpectedEnd: "unexpected end of the document"
        case .invalidJSON: "not valid JSON"
        case .invalidString: "invalid string"
        case .trailingBytes: "bytes after the value"
        case .tooDeep: "nesting deeper than \(JSONReader.maximumDepth)"
        case .numberOutOfRange: "number out of range"
        case .typeMismatch(let expected): "expected \(expected)"
        case .invalidValue(let expected): "invalid value, expected \(expected)"
        case .missingField(let field, let type): "missing field \"\(field)\" of \(type)"
        }
        return "\(what) at byte \(offset)"
    }
}
