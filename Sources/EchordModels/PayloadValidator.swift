import Foundation

/// Checks JSON payloads against what Discord documents for them: which keys exist, which may be
/// absent (`name?` in Discord's tables), which may be `null` (`?type`), and the JSON type of each
/// value, recursively through nested objects and arrays.
///
/// The rules are generated from `Schema/*.schema` (the same marks the models are generated from),
/// so a key Discord does not document, a `null` in a field that is not nullable, a number sent as
/// a string, or a required key left out are all reported, each with its JSON path:
///
/// ```swift
/// let issues = PayloadValidator.validate(gatewayPayload: frameBytes)
/// // ["d.channels[3].default_auto_archive_duration: null where not nullable"]
/// ```
///
/// Models decode leniently (any Optional accepts both an absent key and `null`); the validator is
/// the strict side, for checking what a server (such as Echord's simulator) sends.
public enum PayloadValidator {
    /// Checks a complete gateway message `{"op", "d", "s", "t"}`: a dispatch (op 0) by its event
    /// name, another opcode by its number.
    ///
    /// A dispatch must carry all four keys. For other opcodes `s` and `t` must be null, and may be
    /// left out, as may a null `d`: the docs' own examples (Hello, Heartbeat ACK, Identify) do so.
    public static func validate(gatewayPayload payload: JSONValue) -> [PayloadIssue] {
        var issues: [PayloadIssue] = []
        guard case .object(let members) = payload else {
            return [PayloadIssue(path: "", kind: .wrongType(expected: "object", found: payload.jsonTypeName))]
        }
        for key in members.keys.sorted() where !["op", "d", "s", "t"].contains(key) {
            issues.append(PayloadIssue(path: key, kind: .undocumentedKey))
        }
        guard let opValue = members["op"], let op = opValue.integerValue.map({ Int($0) }) else {
            if let opValue = members["op"] {
                issues.append(PayloadIssue(path: "op", kind: .wrongType(expected: "integer", found: opValue.jsonTypeName)))
            } else {
                issues.append(PayloadIssue(path: "op", kind: .missingKey))
            }
            return issues
        }
        let data = members["d"] ?? .null
        if op == 0 {
            for key in ["d", "s", "t"] where members[key] == nil {
                issues.append(PayloadIssue(path: key, kind: .missingKey))
            }
            if let s = members["s"], s.integerValue == nil {
                issues.append(PayloadIssue(path: "s", kind: .wrongType(expected: "integer", found: s.jsonTypeName)))
            }
            guard let name = members["t"]?.stringValue else {
                if let t = members["t"] {
                    issues.append(PayloadIssue(path: "t", kind: .wrongType(expected: "string", found: t.jsonTypeName)))
                }
                return issues
            }
            issues += validate(dispatch: name, data: data, at: "d")
        } else {
            for key in ["s", "t"] {
                if let value = members[key], value != .null {
                    issues.append(PayloadIssue(path: key, kind: .wrongType(expected: "null (op \(op))", found: value.jsonTypeName)))
                }
            }
            issues += validate(opcode: op, data: data, at: "d")
        }
        return issues
    }

    /// Checks a complete gateway message given as UTF-8 JSON; text that is not JSON is one
    /// ``PayloadIssue/Kind/invalidJSON(_:)`` issue.
    public static func validate(gatewayPayload bytes: [UInt8]) -> [PayloadIssue] {
        guard let value = parse(bytes) else { return [PayloadIssue(path: "", kind: .invalidJSON("not a JSON value"))] }
        return validate(gatewayPayload: value)
    }

    /// Checks the `d` of the dispatch named `eventName` (`t`), e.g. `GUILD_CREATE`.
    ///
    /// - Parameters:
    ///   - eventName: The dispatch's `t`.
    ///   - data: The dispatch's `d`.
    ///   - path: The path of `data` in the issues' paths.
    public static func validate(dispatch eventName: String, data: JSONValue, at path: String = "d") -> [PayloadIssue] {
        guard let typeName = dispatchTypes[eventName] else { return [PayloadIssue(path: "t", kind: .unknownEvent(eventName))] }
        var issues: [PayloadIssue] = []
        check(data, .object(typeName, partial: false), at: path, into: &issues)
        return issues
    }

    /// Checks the `d` of a message with opcode `op` other than 0 (Hello, Heartbeat, Identify, ...).
    ///
    /// - Parameters:
    ///   - op: The message's opcode.
    ///   - data: The message's `d`.
    ///   - path: The path of `data` in the issues' paths.
    public static func validate(opcode op: Int, data: JSONValue, at path: String = "d") -> [PayloadIssue] {
        var issues: [PayloadIssue] = []
        switch op {
        case 1:  // Heartbeat: the last sequence number, or null (also op 1 sent by the server)
            if data != .null && data.integerValue == nil {
                issues.append(PayloadIssue(path: path, kind: .wrongType(expected: "integer or null", found: data.jsonTypeName)))
            }
        case 7, 11:  // Reconnect, Heartbeat ACK: no data
            if data != .null {
                issues.append(PayloadIssue(path: path, kind: .wrongType(expected: "null", found: data.jsonTypeName)))
            }
        case 9:  // Invalid Session: whether the session can be resumed
            check(data, .bool, at: path, into: &issues)
        default:
            guard let shape = opcodeShapes[op] else { return [PayloadIssue(path: "op", kind: .unknownOpcode(op))] }
            check(data, .object(shape, partial: false), at: path, into: &issues)
        }
        return issues
    }

    /// Checks `value` against the documented rules of `type`, e.g. `Channel.self`.
    ///
    /// - Parameters:
    ///   - value: The parsed JSON to check.
    ///   - type: The documented type `value` should be.
    ///   - partial: Whether `value` is a partial object, whose required keys may be missing.
    ///   - path: The path of `value` in the issues' paths.
    public static func validate<T: DocumentedPayload>(
        _ value: JSONValue, as type: T.Type, partial: Bool = false, at path: String = ""
    ) -> [PayloadIssue] {
        var issues: [PayloadIssue] = []
        check(value, .object(String(describing: type), partial: partial), at: path, into: &issues)
        return issues
    }

    /// Parses UTF-8 JSON with the fast reader; nil when it is not one complete JSON value.
    static func parse(_ bytes: [UInt8]) -> JSONValue? {
        bytes.withUnsafeBytes { try? JSONValue(jsonBytes: $0) }
    }

    // MARK: Walking

    private static func check(_ value: JSONValue, _ rule: PayloadValueRule, at path: String, into issues: inout [PayloadIssue]) {
        func mismatch(_ expected: String) {
            issues.append(PayloadIssue(path: path, kind: .wrongType(expected: expected, found: value.jsonTypeName)))
        }
        switch rule {
        case .any:
            break
        case .string:
            if value.stringValue == nil { mismatch("string") }
        case .timestamp:
            guard let text = value.stringValue, Timestamp(iso8601: text) != nil else { return mismatch("ISO 8601 timestamp") }
        case .integer:
            if value.integerValue == nil { mismatch("integer") }
        case .number:
            if value.numberValue == nil { mismatch("number") }
        case .bool:
            if value.boolValue == nil { mismatch("boolean") }
        case .snowflake, .decimalString:
            guard let text = value.stringValue, !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                return mismatch(rule == .snowflake ? "snowflake (a decimal string)" : "decimal string")
            }
        case .array(let element):
            guard case .array(let items) = value else { return mismatch("array") }
            for (index, item) in items.enumerated() {
                check(item, element, at: "\(path)[\(index)]", into: &issues)
            }
        case .object(let typeName, let partial):
            guard case .object(let members) = value else { return mismatch("object") }
            if typeName == "GuildCreateEvent" {
                let unavailable = members["unavailable"] == .bool(true)
                return check(value, .object(unavailable ? "UnavailableGuild" : "GuildCreate", partial: partial), at: path, into: &issues)
            }
            guard let fields = objectRules[typeName] else { return }
            checkObject(members, fields: fields, partial: partial, at: path, into: &issues)
        }
    }

    private static func checkObject(
        _ members: [String: JSONValue], fields: [String: PayloadFieldRule], partial: Bool, at path: String,
        into issues: inout [PayloadIssue]
    ) {
        let prefix = path.isEmpty ? "" : path + "."
        for (key, value) in members.sorted(by: { $0.key < $1.key }) {
            let keyPath = prefix + key
            guard let field = fields[key], !field.marks.contains(.undocumented) else {
                issues.append(PayloadIssue(path: keyPath, kind: .undocumentedKey))
                continue
            }
            if value == .null {
                if !field.marks.contains(.nullable) { issues.append(PayloadIssue(path: keyPath, kind: .nullNotAllowed)) }
                continue
            }
            check(value, field.value, at: keyPath, into: &issues)
        }
        guard !partial else { return }
        for (key, field) in fields.sorted(by: { $0.key < $1.key })
        where members[key] == nil && field.marks.isDisjoint(with: [.optional, .undocumented]) {
            issues.append(PayloadIssue(path: prefix + key, kind: .missingKey))
        }
    }
}

/// A type whose payload ``PayloadValidator`` can check: every model generated from the schema.
public protocol DocumentedPayload {}

extension DocumentedPayload {
    /// Checks `value` against the documented rules of this type; no issues means it is exactly
    /// what Discord documents.
    ///
    /// - Parameters:
    ///   - value: The parsed JSON to check.
    ///   - partial: Whether `value` is a partial object, whose required keys may be missing.
    public static func validate(_ value: JSONValue, partial: Bool = false) -> [PayloadIssue] {
        PayloadValidator.validate(value, as: Self.self, partial: partial)
    }
}

/// One way a payload differs from Discord's documentation, at a JSON path such as
/// `d.channels[3].default_auto_archive_duration`.
public struct PayloadIssue: Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public enum Kind: Sendable, Hashable {
        /// The key is not documented for this object.
        case undocumentedKey
        /// The value is `null` but Discord does not mark the field nullable (`?type`).
        case nullNotAllowed
        /// The value has another JSON type than the documented one (a snowflake must be a decimal string).
        case wrongType(expected: String, found: String)
        /// A key Discord does not mark optional (`name?`) is absent.
        case missingKey
        /// A dispatch whose event name Discord does not document.
        case unknownEvent(String)
        /// An opcode Discord does not document.
        case unknownOpcode(Int)
        /// The bytes are not JSON.
        case invalidJSON(String)
    }

    /// The JSON path of the value, `d.channels[3].name`; empty for the whole payload.
    public var path: String
    /// What is wrong.
    public var kind: Kind

    /// Creates an issue.
    public init(path: String, kind: Kind) {
        self.path = path
        self.kind = kind
    }

    /// The path and the problem, e.g. `d.channels[3].default_auto_archive_duration: null where not nullable`.
    public var description: String {
        let problem = switch kind {
        case .undocumentedKey: "key not in Discord's docs"
        case .nullNotAllowed: "null where not nullable"
        case .wrongType(let expected, let found): "\(found) where \(expected) is documented"
        case .missingKey: "required key missing"
        case .unknownEvent(let name): "undocumented event \(name)"
        case .unknownOpcode(let op): "undocumented opcode \(op)"
        case .invalidJSON(let reason): "invalid JSON: \(reason)"
        }
        return path.isEmpty ? problem : "\(path): \(problem)"
    }
}

/// The JSON type a field's value must have.
indirect enum PayloadValueRule: Sendable, Equatable {
    case string, integer, number, bool, any
    /// A snowflake: a decimal string.
    case snowflake
    /// An ISO 8601 timestamp string.
    case timestamp
    /// A bit set sent as a decimal string (permissions).
    case decimalString
    case array(PayloadValueRule)
    /// An object checked against the rules of the schema type; a partial one may lack required keys.
    case object(String, partial: Bool)
}

/// One key of an object, with Discord's marks.
struct PayloadFieldRule: Sendable {
    struct Marks: OptionSet, Sendable {
        let rawValue: UInt8
        /// `name?`: may be absent.
        static let optional = Marks(rawValue: 1)
        /// `?type`: may be null.
        static let nullable = Marks(rawValue: 2)
        /// Sent by Discord but not documented: reported when present.
        static let undocumented = Marks(rawValue: 4)
    }

    let value: PayloadValueRule
    let marks: Marks

    init(_ value: PayloadValueRule, _ marks: Marks) {
        self.value = value
        self.marks = marks
    }
}

extension JSONValue {
    /// The number, when it is a whole number.
    var integerValue: Int64? {
        guard case .number(let value) = self, value.rounded() == value, abs(value) < 9.3e18 else { return nil }
        return Int64(value)
    }

    /// The JSON type's name, for issues.
    var jsonTypeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let value): value.rounded() == value ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}
