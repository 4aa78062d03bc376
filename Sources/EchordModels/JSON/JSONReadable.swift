import Foundation

/// A type that reads itself from a ``JSONReader``: the fast path every Echord model has beside
/// `Decodable` (which stays the reference `JSONDecoder` path, checked against this one on every
/// fixture).
public protocol JSONReadable {
    /// Reads a value of this type from the reader's next value.
    init(from reader: inout JSONReader) throws
}

extension JSONReadable {
    /// Reads a value of this type from a whole JSON document.
    public init(jsonBytes bytes: UnsafeRawBufferPointer) throws {
        self = try JSONReader.withReader(bytes) { try Self(from: &$0) }
    }

    /// Reads a value of this type from a whole JSON document.
    public init(jsonBytes bytes: some Collection<UInt8>) throws {
        if let result = try bytes.withContiguousStorageIfAvailable({ buffer in
            try Self(jsonBytes: UnsafeRawBufferPointer(buffer))
        }) {
            self = result
        } else {
            let copy = Array(bytes)
            self = try copy.withUnsafeBytes { try Self(jsonBytes: $0) }
        }
    }

    /// Reads a value of this type from a whole JSON document.
    public init(jsonData data: Data) throws {
        self = try data.withUnsafeBytes { try Self(jsonBytes: $0) }
    }
}

extension String: JSONReadable {
    /// Reads a JSON string.
    public init(from reader: inout JSONReader) throws { self = try reader.readString() }
}

extension Int: JSONReadable {
    /// Reads a JSON integer.
    public init(from reader: inout JSONReader) throws { self = try reader.readInt() }
}

extension UInt64: JSONReadable {
    /// Reads a non-negative JSON integer.
    public init(from reader: inout JSONReader) throws { self = try reader.readUInt64() }
}

extension Double: JSONReadable {
    /// Reads a JSON number.
    public init(from reader: inout JSONReader) throws { self = try reader.readDouble() }
}

extension Bool: JSONReadable {
    /// Reads `true` or `false`.
    public init(from reader: inout JSONReader) throws { self = try reader.readBool() }
}

extension Snowflake: JSONReadable {
    /// Reads a snowflake from a decimal string (or a non-negative integer).
    public init(from reader: inout JSONReader) throws { self.init(rawValue: try reader.readSnowflakeValue()) }
}

extension JSONValue: JSONReadable {
    /// Reads any JSON value.
    public init(from reader: inout JSONReader) throws { self = try reader.readValue() }
}

extension Array: JSONReadable where Element: JSONReadable {
    /// Reads a JSON array of elements.
    public init(from reader: inout JSONReader) throws {
        self.init()
        var cursor = try reader.beginArray()
        while try reader.nextElement(&cursor) { append(try Element(from: &reader)) }
    }
}

extension Optional: JSONReadable where Wrapped: JSONReadable {
    /// Reads `null` as nil, anything else as the wrapped type.
    public init(from reader: inout JSONReader) throws {
        self = try reader.readNull() ? nil : try Wrapped(from: &reader)
    }
}

/// A value stored out of line, so that a model can contain a value of its own type (a message's
/// `referenced_message`, a component's `components`).
public struct Indirect<Value: Sendable & Hashable>: Sendable, Hashable {
    private indirect enum Storage: Sendable, Hashable { case value(Value) }
    private var storage: Storage

    /// Boxes `value`.
    public init(_ value: Value) { storage = .value(value) }

    /// The boxed value.
    public var value: Value {
        get { switch storage { case .value(let value): value } }
        set { storage = .value(newValue) }
    }
}

extension Indirect: Codable where Value: Codable {
    /// Decodes the boxed value.
    public init(from decoder: any Decoder) throws { self.init(try Value(from: decoder)) }
    /// Encodes the boxed value.
    public func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

extension Indirect: JSONReadable where Value: JSONReadable {
    /// Reads the boxed value.
    public init(from reader: inout JSONReader) throws { self.init(try Value(from: &reader)) }
}

extension JSONReader {
    /// A coding key for any member name; used to check that a value is an object.
    public struct AnyKey: CodingKey {
        /// The member name.
        public var stringValue: String
        /// Always nil.
        public var intValue: Int? { nil }
        /// A key for `stringValue`.
        public init(stringValue: String) { self.stringValue = stringValue }
        /// Not used: members have names.
        public init?(intValue: Int) { nil }
    }
}

extension ShardInfo: JSONReadable {
    /// Reads `[shard_id, num_shards]`.
    public init(from reader: inout JSONReader) throws {
        let start = reader.offset
        let values = try [Int](from: &reader)
        guard values.count == 2 else {
            throw JSONDecodingError(.invalidValue("[shard_id, num_shards]"), offset: start)
        }
        self.init(shardID: values[0], shardCount: values[1])
    }
}

extension GatewayOpcode: JSONReadable {
    /// Reads the opcode number.
    public init(from reader: inout JSONReader) throws { self.init(rawValue: try reader.readInt()) }
}
