import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

// Helpers shared by ResumeTests, MembersTests, FaultTests and CompressionTests.

/// The bot user id encoded in ``TestGatewayClient/token``.
let testBotUserID = "1191168914227331073"

extension JSONValue {
    /// The elements, when this is an array.
    var arrayElements: [JSONValue]? {
        guard case .array(let items) = self else { return nil }
        return items
    }

    /// The number as an `Int`, when this is an integral number.
    var integerValue: Int? {
        guard case .number(let n) = self, n.rounded() == n else { return nil }
        return Int(n)
    }

    /// The object's keys, when this is an object.
    var objectKeys: Set<String>? {
        guard case .object(let members) = self else { return nil }
        return Set(members.keys)
    }

    /// A copy of an object without `key` (other values unchanged).
    func removingKey(_ key: String) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members[key] = nil
        return .object(members)
    }

    /// Parses `text` as JSON; nil when it is not valid JSON.
    static func parsedJSON(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

extension Incoming {
    /// The whole parsed payload, when this is one.
    var payloadJSON: JSONValue? {
        if case .payload(let json, _) = self { return json }
        return nil
    }

    /// The payload's text, when this is one.
    var payloadText: String? {
        if case .payload(_, let text) = self { return text }
        return nil
    }

    var isConnectionEnd: Bool {
        if case .ended = self { return true }
        return false
    }
}

extension TestGatewayClient {
    /// Reads HELLO, identifies, reads READY and every GUILD_CREATE READY announced.
    /// Returns the session id, the last `s` seen and every payload in order (HELLO first).
    func identifyAndReadGuilds(
        intents: UInt64 = 513 | 32768, shard: (Int, Int)? = nil
    ) async throws -> (sessionID: String, sequence: Int, payloads: [Incoming]) {
        let hello = try await nextPayload()
        guard hello.op == 10 else { throw TestClientError.unexpected("\(hello) instead of HELLO") }
        try await identify(intents: intents, shard: shard)
        let ready = try await nextPayload()
        guard ready.eventName == "READY", let sessionID = ready.data?["session_id"]?.stringValue,
            let guilds = ready.data?["guilds"]?.arrayElements, let readySeq = ready.sequence
        else { throw TestClientError.unexpected("\(ready) instead of READY") }
        var payloads = [hello, ready]
        var sequence = readySeq
        for _ in guilds {
            let create = try await nextPayload()
            guard create.eventName == "GUILD_CREATE", let s = create.sequence else {
                throw TestClientError.unexpected("\(create) instead of GUILD_CREATE")
            }
            payloads.append(create)
            sequence = s
        }
        return (sessionID, sequence, payloads)
    }

    /// Sends a heartbeat (`d: null`) and reads up to its ACK; returns every payload that arrived
    /// before the ACK. The simulator answers frames of one socket in order, so an empty result
    /// proves nothing else was sent on this socket before the heartbeat was handled.
    func payloadsBeforeHeartbeatAck(timeout: Duration = .seconds(20)) async throws -> [Incoming] {
        try await heartbeat(nil)
        var before: [Incoming] = []
        while true {
            let incoming = try await next(timeout: timeout)
            switch incoming {
            case .payload where incoming.op == 11: return before
            case .payload: before.append(incoming)
            default: throw TestClientError.unexpected("\(incoming) while waiting for a heartbeat ACK")
            }
        }
    }

    /// Reads HELLO and sends RESUME.
    func helloThenResume(sessionID: String, sequence: Int) async throws {
        let hello = try await nextPayload()
        guard hello.op == 10 else { throw TestClientError.unexpected("\(hello) instead of HELLO") }
        try await resume(sessionID: sessionID, sequence: sequence)
    }
}

/// Polls `condition` every 5 ms until it holds; throws after `timeout` of real time.
func waitForCondition(
    _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + TestTime.bound(timeout)
    while !(try await condition()) {
        guard clock.now < deadline else { throw TestClientError.timedOut(what) }
        try await Task.sleep(for: .milliseconds(5))
    }
}

extension GatewaySimulator {
    /// Waits until the simulator has noticed that `sessionID`'s socket is gone.
    func waitUntilDetached(_ sessionID: String) async throws {
        try await waitForCondition("session \(sessionID) detached") {
            let info = try await self.sessions().first { $0.id == sessionID }
            return info != nil && info?.connectionID == nil
        }
    }

    /// The connection currently serving `sessionID`.
    func connectionID(of sessionID: String) async throws -> Int? {
        try await sessions().first { $0.id == sessionID }?.connectionID
    }

    /// The index the next log entry will get.
    func nextLogIndex() async throws -> Int {
        (try await log().last?.index ?? -1) + 1
    }

    /// The dispatch names the simulator logged as sent on connection `id`, with their `s`.
    func sentDispatches(onConnection id: Int) async throws -> [(name: String, sequence: Int)] {
        try await log().compactMap { entry in
            guard entry.kind == .sent, entry.connectionID == id, entry.opcode == 0, let name = entry.eventName,
                let s = entry.sequence
            else { return nil }
            return (name, s)
        }
    }
}
