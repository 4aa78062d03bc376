// The ledger: what happened to every dispatch of every session, from the simulator's side of the
// socket, so a soak run can say whether anything was lost that Discord's rules do not allow.
//
// Definitions (the README's chaos section states them for bot authors):
// - produced: the session numbered the dispatch (its `s`).
// - written: the dispatch was written to the socket at least once (a frame a freeze holds is
//   written on the thaw, or never if the connection ends first).
// - replayed: a dispatch written again, or for the first time, because a RESUME asked for it.
// - delivered (acknowledged): the client acknowledged every dispatch up to `s`, through a
//   heartbeat's `d` or a RESUME's `seq`. Nothing on the wire proves more than that.
// - in flight: produced but not yet acknowledged by a session that is still live or resumable.
// - lost: when a session ends, the dispatches past the last one its client acknowledged. The loss
//   is allowed when the session ended as Discord's rules say a session ends (op 9 with false, a
//   close with 4003, 4007 or 4009, the resume window passing, the client closing with 1000/1001);
//   it is forbidden (a defect of the client) when the client identified anew for the shard while
//   the session could still be resumed.
// - an identify where a RESUME was possible: an IDENTIFY for a shard whose previous session had
//   not ended by one of those rules.
// - ready time: from READY or RESUMED written on a connection to that connection's end; a shard's
//   ready share is its ready time over the window from its first READY to the end of the chaos run.

/// Why a session ended, for the ledger.
enum SessionEndReason: Hashable {
    /// Op 9 with `d: false`.
    case invalidSession
    /// A close frame with 4003, 4007 or 4009.
    case closed(UInt16)
    /// Its resume window passed.
    case expired
    /// The client closed with 1000 or 1001.
    case clientClosed(UInt16)
    /// The client identified anew for its shard while the session was resumable.
    case abandoned

    /// Whether Discord's rules allow the session's unacknowledged dispatches to be lost.
    var isAllowed: Bool { self != .abandoned }

    var label: String {
        switch self {
        case .invalidSession: "op 9 false"
        case .closed(let code): "close \(code)"
        case .expired: "resume window expired"
        case .clientClosed(let code): "client closed \(code)"
        case .abandoned: "identified anew while resumable"
        }
    }

    /// The close codes after which Discord's rules say the session is gone.
    static let sessionEndingCloseCodes: Set<UInt16> = [4003, 4007, 4009]
}

struct ChaosLedger {
    struct SessionRecord {
        let id: String
        let shard: ShardKey
        var produced = 0
        var highestWritten = 0
        var acknowledged = 0
        var ended: SessionEndReason?
    }

    struct ShardRecord {
        var sessions = 0
        var identifies = 0
        var resumes = 0
        var identifiesWhereResumePossible = 0
        var faults = 0
        /// Faults after which the shard was ready again, or whose connection survived.
        var faultsSurvived = 0
        var produced = 0
        var written = 0
        var replayed = 0
        /// Acknowledged dispatches of ended sessions (live ones are added at report time).
        var deliveredEnded = 0
        var lostAllowed = 0
        var lostForbidden = 0
        var currentSessionID: String?
        var firstReadyAt: Int64?
        var readyNanoseconds: Int64 = 0
        var readyConnection: (id: Int, since: Int64)?
    }

    var sessions: [String: SessionRecord] = [:]
    /// Recently ended sessions, so a RESUME the simulator still accepts (after a close 4007 or
    /// 4009 the client ignored) reopens them. Bounded.
    var recentlyEnded: [String: SessionRecord] = [:]
    var shards: [ShardKey: ShardRecord] = [:]
    var faultsByKind: [String: Int] = [:]
    var lostByReason: [String: Int] = [:]
    var brokenRules: [String: Int] = [:]
    var faults: [ChaosFaultEvent] = []
    var nextFaultIndex = 0
    /// The end of the report's window (the chaos duration), if any.
    var windowEnd: Int64?

    static let faultHistory = 256
    static let distinctRules = 200

    // MARK: Dispatches

    mutating func produced(_ session: SimulatedSession) {
        sessions[session.id]?.produced = session.sequence
        shards[session.shardKey]?.produced += 1
    }

    mutating func written(_ session: SimulatedSession, sequence: Int, replay: Bool) {
        guard var record = sessions[session.id] else { return }
        if sequence > record.highestWritten {
            record.highestWritten = sequence
            sessions[session.id] = record
            shards[session.shardKey]?.written += 1
        }
        if replay { shards[session.shardKey]?.replayed += 1 }
    }

    mutating func acknowledged(_ session: SimulatedSession, upTo sequence: Int) {
        guard var record = sessions[session.id], sequence > record.acknowledged, sequence <= record.produced else { return }
        record.acknowledged = sequence
        sessions[session.id] = record
    }

    // MARK: Sessions

    /// A session was created by IDENTIFY; the shard's previous session, if still resumable, is
    /// abandoned.
    mutating func identified(_ session: SimulatedSession) {
        var shard = shards[session.shardKey] ?? ShardRecord()
        if let previous = shard.currentSessionID, sessions[previous] != nil {
            shard.identifiesWhereResumePossible += 1
            shards[session.shardKey] = shard
            end(previous, reason: .abandoned)
            shard = shards[session.shardKey] ?? shard
        }
        shard.sessions += 1
        shard.identifies += 1
        shard.currentSessionID = session.id
        shards[session.shardKey] = shard
        sessions[session.id] = SessionRecord(id: session.id, shard: session.shardKey)
    }

    mutating func resumed(_ session: SimulatedSession, from sequence: Int) {
        if sessions[session.id] == nil, let record = recentlyEnded.removeValue(forKey: session.id) {
            reopen(record)
        }
        acknowledged(session, upTo: sequence)
        shards[session.shardKey]?.resumes += 1
        shards[session.shardKey]?.currentSessionID = session.id
    }

    /// The session ended; what its client had not acknowledged is lost (allowed or not by `reason`).
    mutating func end(_ id: String, reason: SessionEndReason) {
        guard var record = sessions.removeValue(forKey: id) else { return }
        record.ended = reason
        let lost = max(0, record.produced - record.acknowledged)
        var shard = shards[record.shard] ?? ShardRecord()
        shard.deliveredEnded += record.acknowledged
        if reason.isAllowed { shard.lostAllowed += lost } else { shard.lostForbidden += lost }
        shards[record.shard] = shard
        lostByReason[reason.label, default: 0] += lost
        if recentlyEnded.count >= 256, let oldest = recentlyEnded.keys.first { recentlyEnded[oldest] = nil }
        recentlyEnded[id] = record
    }

    private mutating func reopen(_ record: SessionRecord) {
        guard let reason = record.ended else { return }
        let lost = max(0, record.produced - record.acknowledged)
        var shard = shards[record.shard] ?? ShardRecord()
        shard.deliveredEnded -= record.acknowledged
        if reason.isAllowed { shard.lostAllowed -= lost } else { shard.lostForbidden -= lost }
        shards[record.shard] = shard
        lostByReason[reason.label, default: 0] -= lost
        if lostByReason[reason.label] == 0 { lostByReason[reason.label] = nil }
        var open = record
        open.ended = nil
        sessions[record.id] = open
    }

    // MARK: Connections and readiness

    /// READY or RESUMED was written on connection `id`: the shard is ready, and the faults that
    /// were waiting for it have recovered.
    mutating func ready(_ key: ShardKey, connection id: Int, resumed: Bool, now: Int64) {
        var shard = shards[key] ?? ShardRecord()
        if shard.firstReadyAt == nil { shard.firstReadyAt = now }
        if shard.readyConnection == nil { shard.readyConnection = (id, now) }
        shards[key] = shard
        for index in faults.indices where faults[index].shardID == key.shardID && faults[index].outcome == .recovering
            && faults[index].connectionEnded
        {
            faults[index].outcome = resumed ? .resumed : .newSession
            shards[key]?.faultsSurvived += 1
            faults[index].recoveryMilliseconds = (now / 1_000_000) - faults[index].timeMilliseconds
        }
    }

    /// Connection `id` ended (it may never have been ready).
    mutating func connectionEnded(_ id: Int, now: Int64) {
        for (key, shard) in shards {
            guard let ready = shard.readyConnection, ready.id == id else { continue }
            shards[key]?.readyNanoseconds += Self.clipped(from: ready.since, to: now, end: windowEnd)
            shards[key]?.readyConnection = nil
        }
        for index in faults.indices where faults[index].connectionID == id { faults[index].connectionEnded = true }
    }

    static func clipped(from start: Int64, to end: Int64, end windowEnd: Int64?) -> Int64 {
        let stop = windowEnd.map { min($0, end) } ?? end
        return max(0, stop - start)
    }

    // MARK: Faults and rules

    mutating func fault(_ kind: ChaosFaultKind, shard: ShardKey, sessionID: String, connection: Int, now: Int64) {
        // A fault that left its connection up when the next one lands did not need a recovery.
        for index in faults.indices where faults[index].shardID == shard.shardID && faults[index].outcome == .recovering
            && !faults[index].connectionEnded
        {
            faults[index].outcome = .connectionKept
            shards[shard]?.faultsSurvived += 1
        }
        shards[shard, default: ShardRecord()].faults += 1
        faults.append(ChaosFaultEvent(
            index: nextFaultIndex, timeMilliseconds: now / 1_000_000, kind: kind, shardID: shard.shardID,
            sessionID: sessionID, connectionID: connection))
        nextFaultIndex += 1
        if faults.count > Self.faultHistory { faults.removeFirst(faults.count - Self.faultHistory) }
    }

    mutating func counted(_ kind: ChaosFaultKind) { faultsByKind[kind.rawValue, default: 0] += 1 }

    mutating func brokenRule(_ rule: String) {
        if brokenRules[rule] == nil && brokenRules.count >= Self.distinctRules {
            brokenRules["(other rules)", default: 0] += 1
        } else {
            brokenRules[rule, default: 0] += 1
        }
    }
}

/// One fault chaos mode injected and what became of it.
public struct ChaosFaultEvent: Sendable, Equatable {
    /// What became of the shard after the fault.
    public enum Outcome: String, Sendable {
        /// The connection ended and the shard is not ready again yet (or the connection is still up
        /// and no later fault has landed on the shard).
        case recovering
        /// The shard resumed its session (RESUMED written).
        case resumed
        /// The shard started a new session (READY written).
        case newSession = "new-session"
        /// The connection survived the fault.
        case connectionKept = "connection-kept"
    }

    /// Counts the faults from 0, so a poller can ask only for newer ones.
    public let index: Int
    /// Simulator time of the fault, in milliseconds since the simulator started.
    public let timeMilliseconds: Int64
    /// The fault.
    public let kind: ChaosFaultKind
    /// The shard hit.
    public let shardID: Int
    /// The session hit.
    public let sessionID: String
    /// The connection hit.
    public let connectionID: Int
    /// What became of it.
    public internal(set) var outcome: Outcome = .recovering
    /// From the fault to READY or RESUMED on a new connection, in milliseconds.
    public internal(set) var recoveryMilliseconds: Int64?
    /// Whether the connection hit has ended.
    public internal(set) var connectionEnded = false

    var json: SimulatorJSON {
        .object([
            ("index", .int(Int64(index))), ("time_ms", .int(timeMilliseconds)), ("kind", .string(kind.rawValue)),
            ("shard", .int(Int64(shardID))), ("session_id", .string(sessionID)),
            ("connection", .int(Int64(connectionID))), ("outcome", .string(outcome.rawValue)),
            ("recovery_ms", recoveryMilliseconds.map { .int($0) } ?? .null),
        ])
    }
}
