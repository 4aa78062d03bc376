/// One line of the simulator's log: a connection opened or closed, a frame in or out, or a rule a
/// client broke.
///
/// Frames the client sent keep their JSON text with the token redacted, so tests (and bot authors)
/// can check exactly what a client put on the wire.
public struct SimulatorLogEntry: Sendable, CustomStringConvertible {
    /// What happened.
    public enum Kind: Sendable, Equatable {
        /// A WebSocket was accepted on `path` with `query`.
        case connected(path: String, query: String)
        /// The client sent a frame.
        case received
        /// The simulator wrote a frame to the socket (a frame a freeze holds is logged when the thaw
        /// writes it, and never if the connection ends first).
        case sent
        /// The simulator wrote a close frame carrying `code` (1005: a close frame without a code)
        /// and `reason` (at most 123 bytes).
        case closedByServer(code: UInt16, reason: String)
        /// The client closed the socket with a close frame carrying `code` (nil: no code).
        case closedByClient(code: UInt16?)
        /// The TCP connection ended without a close frame (dropped by either side).
        case dropped
        /// The client broke a rule; `closeCode` is what the simulator did about it, if it closed.
        case violation(rule: String, closeCode: UInt16?)
        /// A session event: created, resumed, invalidated, expired.
        case session(String)
    }

    /// Position in the log, counting from 0 since the simulator started.
    public let index: Int
    /// Simulator time of the entry, in milliseconds since the simulator started.
    public let timeMilliseconds: Int64
    /// The connection (numbered from 1 as they are accepted); 0 for entries not tied to one.
    public let connectionID: Int
    /// The session the connection served at the time, if any.
    public let sessionID: String?
    /// The shard of that session, if any.
    public let shardID: Int?
    /// What happened.
    public let kind: Kind
    /// The frame's `op`, for frames.
    public let opcode: Int?
    /// The frame's `t`, for dispatches.
    public let eventName: String?
    /// The frame's `s`, for dispatches.
    public let sequence: Int?
    /// The frame's size before compression.
    public let byteCount: Int
    /// The frame's JSON text (token redacted): always for received frames, for sent frames only
    /// when ``SimulatorConfiguration/logServerPayloads`` is on.
    public let text: String?

    public var description: String {
        var parts = ["#\(index)", "t=\(timeMilliseconds)ms", "conn=\(connectionID)"]
        if let shardID { parts.append("shard=\(shardID)") }
        switch kind {
        case .connected(let path, let query): parts.append("connected \(path)?\(query)")
        case .received: parts.append("<- op=\(opcode.map(String.init) ?? "?")")
        case .sent: parts.append("-> op=\(opcode.map(String.init) ?? "?")")
        case .closedByServer(let code, let reason): parts.append("server closed \(code) \(reason)")
        case .closedByClient(let code): parts.append("client closed \(code.map(String.init) ?? "-")")
        case .dropped: parts.append("dropped")
        case .violation(let rule, let code): parts.append("VIOLATION \(rule)" + (code.map { " -> \($0)" } ?? ""))
        case .session(let what): parts.append("session \(what)")
        }
        if let eventName { parts.append("t=\(eventName)") }
        if let sequence { parts.append("s=\(sequence)") }
        if let text { parts.append(text) }
        return parts.joined(separator: " ")
    }

    /// The entry as a JSON object, for the control API.
    var json: SimulatorJSON {
        var fields: [(String, SimulatorJSON)] = [
            ("index", .int(Int64(index))), ("time_ms", .int(timeMilliseconds)),
            ("connection", .int(Int64(connectionID))), ("session_id", .optional(sessionID)),
            ("shard", shardID.map { .int(Int64($0)) } ?? .null),
        ]
        switch kind {
        case .connected(let path, let query):
            fields += [("kind", "connected"), ("path", .string(path)), ("query", .string(query))]
        case .received: fields.append(("kind", "received"))
        case .sent: fields.append(("kind", "sent"))
        case .closedByServer(let code, let reason):
            fields += [("kind", "closed_by_server"), ("code", .int(Int64(code))), ("reason", .string(reason))]
        case .closedByClient(let code):
            fields += [("kind", "closed_by_client"), ("code", code.map { .int(Int64($0)) } ?? .null)]
        case .dropped: fields.append(("kind", "dropped"))
        case .violation(let rule, let code):
            fields += [("kind", "violation"), ("rule", .string(rule)), ("code", code.map { .int(Int64($0)) } ?? .null)]
        case .session(let what): fields += [("kind", "session"), ("what", .string(what))]
        }
        fields += [
            ("op", opcode.map { .int(Int64($0)) } ?? .null), ("t", .optional(eventName)),
            ("s", sequence.map { .int(Int64($0)) } ?? .null), ("bytes", .int(Int64(byteCount))),
            ("text", .optional(text)),
        ]
        return .object(fields)
    }
}

/// A bounded log: the newest `capacity` entries.
struct SimulatorLogBuffer {
    private(set) var entries: [SimulatorLogEntry] = []
    private var head = 0
    let capacity: Int
    private(set) var nextIndex = 0

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    mutating func append(_ make: (Int) -> SimulatorLogEntry) {
        let entry = make(nextIndex)
        nextIndex += 1
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[head] = entry
            head = (head + 1) % capacity
        }
    }

    /// Entries with `index >= since`, oldest first.
    func entries(since: Int) -> [SimulatorLogEntry] {
        let ordered = head == 0 ? entries : Array(entries[head...] + entries[..<head])
        guard let first = ordered.first, since > first.index else { return ordered }
        return Array(ordered.drop(while: { $0.index < since }))
    }
}
