/// What a chaos run did to every session, from the simulator's ledger: faults, sessions, resumes,
/// identifies, the fate of every dispatch, the share of time each shard was ready, and the rules
/// the client broke. ``GatewaySimulator/chaosReport()`` and `GET /control/chaos/report` return it;
/// `echord simulate --chaos` prints it at the end.
///
/// A dispatch counts as delivered once the client acknowledged it (a later heartbeat's `d`, or a
/// RESUME's `seq`, at or past its `s`). When a session ends, the dispatches past the last
/// acknowledged one are lost: allowed when the session ended as Discord's rules end a session (op 9
/// with false, a close with 4003, 4007 or 4009, the resume window passing, the client's own 1000 or
/// 1001), forbidden when the client identified anew while it could have resumed. A run passes
/// (``ChaosReport/passed``) with no forbidden loss and no identify where a RESUME was possible.
public struct ChaosReport: Sendable, Equatable {
    /// One shard's figures (shards are told apart by id and count).
    public struct ShardFigures: Sendable, Equatable {
        /// The shard id.
        public var shardID: Int
        /// The shard count it identified with.
        public var shardCount: Int
        /// Sessions created (one per accepted IDENTIFY).
        public var sessions: Int
        /// Accepted IDENTIFYs.
        public var identifies: Int
        /// Accepted RESUMEs.
        public var resumes: Int
        /// IDENTIFYs while the shard's previous session could still be resumed.
        public var identifiesWhereResumePossible: Int
        /// Chaos faults that hit the shard.
        public var faults: Int
        /// Faults after which the shard was ready again (READY or RESUMED written), or whose
        /// connection was still up when the next fault landed.
        public var faultsSurvived: Int
        /// Dispatches numbered for the shard's sessions.
        public var dispatchesProduced: Int
        /// Dispatches written to the socket at least once.
        public var dispatchesWritten: Int
        /// Dispatch frames written because a RESUME asked for them.
        public var dispatchesReplayed: Int
        /// Dispatches the client acknowledged.
        public var dispatchesDelivered: Int
        /// Dispatches of live or resumable sessions not acknowledged yet.
        public var dispatchesInFlight: Int
        /// Dispatches lost when a session ended as Discord's rules allow.
        public var lostAllowed: Int
        /// Dispatches lost that Discord's rules do not allow.
        public var lostForbidden: Int
        /// Time ready (READY or RESUMED written, until the connection's end), in milliseconds.
        public var readyMilliseconds: Int64
        /// The window the share is measured over: from the shard's first READY to the end of the
        /// chaos run (or now), in milliseconds.
        public var windowMilliseconds: Int64
        /// `readyMilliseconds / windowMilliseconds`, nil before the first READY.
        public var readyShare: Double?
    }

    /// Simulator time when the report was made, in milliseconds since the simulator started.
    public var timeMilliseconds: Int64
    /// The chaos settings (nil when chaos mode is off: faults injected by hand are not counted).
    public var chaos: ChaosConfiguration?
    /// Chaos faults injected, by ``ChaosFaultKind`` name.
    public var faultsByKind: [String: Int]
    /// Sessions created.
    public var sessions: Int
    /// Accepted IDENTIFYs.
    public var identifies: Int
    /// Accepted RESUMEs.
    public var resumes: Int
    /// IDENTIFYs where a RESUME was possible (a defect of the client).
    public var identifiesWhereResumePossible: Int
    /// Dispatches numbered.
    public var dispatchesProduced: Int
    /// Dispatches written to the socket at least once.
    public var dispatchesWritten: Int
    /// Dispatch frames written because a RESUME asked for them.
    public var dispatchesReplayed: Int
    /// Dispatches the client acknowledged.
    public var dispatchesDelivered: Int
    /// Dispatches of live or resumable sessions not acknowledged yet (not lost).
    public var dispatchesInFlight: Int
    /// Dispatches lost, by why the session ended (the allowed reasons and the forbidden one).
    public var lostByReason: [String: Int]
    /// Dispatches lost as Discord's rules allow.
    public var lostAllowed: Int
    /// Dispatches lost that Discord's rules do not allow.
    public var lostForbidden: Int
    /// Per shard, by shard count then id.
    public var shards: [ShardFigures]
    /// The rules the client broke, with how often (from the simulator's violation log).
    public var brokenRules: [String: Int]
    /// The latest faults (at most 256), oldest first.
    public var recentFaults: [ChaosFaultEvent]
    /// The ledger of every live or resumable session and of the latest ended ones (at most 256).
    public var sessionLedger: [SessionAccount]

    /// One session's account in the ledger.
    public struct SessionAccount: Sendable, Equatable {
        /// The session id.
        public var sessionID: String
        /// Its shard id.
        public var shardID: Int
        /// Its shard count.
        public var shardCount: Int
        /// The last `s` it numbered.
        public var produced: Int
        /// The highest `s` written to the socket.
        public var written: Int
        /// The highest `s` the client acknowledged.
        public var acknowledged: Int
        /// Why it ended (`op 9 false`, `close 4009`, `identified anew while resumable`, …), or nil
        /// while it is live or resumable.
        public var ended: String?
        /// Whether Discord's rules allow what it lost (true while it has not ended).
        public var lossAllowed: Bool
        /// Dispatches lost when it ended (0 while it has not ended).
        public var lost: Int

        var json: SimulatorJSON {
            .object([
                ("session_id", .string(sessionID)), ("shard", [.int(Int64(shardID)), .int(Int64(shardCount))]),
                ("produced", .int(Int64(produced))), ("written", .int(Int64(written))),
                ("acknowledged", .int(Int64(acknowledged))), ("ended", .optional(ended)),
                ("loss_allowed", .bool(lossAllowed)), ("lost", .int(Int64(lost))),
            ])
        }
    }

    /// Chaos faults injected.
    public var faultsInjected: Int { faultsByKind.values.reduce(0, +) }

    /// No dispatch lost that Discord's rules forbid, and no IDENTIFY where a RESUME was possible.
    public var passed: Bool { lostForbidden == 0 && identifiesWhereResumePossible == 0 }

    /// The report for people, one figure a line.
    public var text: String {
        var lines: [String] = []
        let seconds = Double(timeMilliseconds) / 1000
        if let chaos {
            lines.append("chaos report after \(Self.format(seconds, 1)) s: \(Self.format(chaos.faultsPerMinute, 1)) faults/min per session, seed \(chaos.seed)")
        } else {
            lines.append("chaos report after \(Self.format(seconds, 1)) s (chaos off)")
        }
        let kinds = faultsByKind.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        lines.append("faults         \(faultsInjected)\(kinds.isEmpty ? "" : ": " + kinds)")
        lines.append("sessions       \(sessions) (identifies \(identifies), resumes \(resumes))")
        lines.append("identifies where a RESUME was possible: \(identifiesWhereResumePossible)")
        lines.append("dispatches     produced \(dispatchesProduced), written \(dispatchesWritten), replayed \(dispatchesReplayed), delivered \(dispatchesDelivered), in flight \(dispatchesInFlight)")
        let reasons = lostByReason.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        lines.append("lost allowed   \(lostAllowed)\(reasons.isEmpty ? "" : " (" + reasons.joined(separator: ", ") + ")")")
        lines.append("LOST FORBIDDEN \(lostForbidden)")
        lines.append("shard  sessions  identifies  resumes  faults  delivered  lost  ready")
        for shard in shards {
            let share = shard.readyShare.map { Self.format($0 * 100, 1) + " %" } ?? "-"
            lines.append(
                Self.pad("\(shard.shardID)/\(shard.shardCount)", 7) + Self.pad("\(shard.sessions)", 10)
                    + Self.pad("\(shard.identifies)", 12) + Self.pad("\(shard.resumes)", 9) + Self.pad("\(shard.faults)", 8)
                    + Self.pad("\(shard.dispatchesDelivered)", 11) + Self.pad("\(shard.lostForbidden)", 6) + share)
        }
        if brokenRules.isEmpty {
            lines.append("broken rules   none")
        } else {
            lines.append("broken rules   \(brokenRules.values.reduce(0, +)):")
            for (rule, count) in brokenRules.sorted(by: { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }) {
                lines.append("  \(count) × \(rule)")
            }
        }
        lines.append(passed ? "PASS: nothing lost that Discord's rules forbid" : "FAIL: the client lost dispatches or identified where it could resume")
        return lines.joined(separator: "\n")
    }

    /// The report as JSON (what `GET /control/chaos/report` returns).
    public var json: SimulatorJSON {
        let chaosJSON: SimulatorJSON = chaos.map { chaos in
            .object([
                ("faults_per_minute", .double(chaos.faultsPerMinute)), ("seed", .string(String(chaos.seed))),
                ("faults", .array(chaos.kinds.map { .string($0.rawValue) })),
                ("duration_ms", chaos.durationMilliseconds.map { .int($0) } ?? .null),
            ])
        } ?? .null
        return .object([
            ("time_ms", .int(timeMilliseconds)), ("chaos", chaosJSON), ("passed", .bool(passed)),
            ("faults", .int(Int64(faultsInjected))),
            ("faults_by_kind", .object(faultsByKind.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })),
            ("sessions", .int(Int64(sessions))), ("identifies", .int(Int64(identifies))),
            ("resumes", .int(Int64(resumes))),
            ("identifies_where_resume_possible", .int(Int64(identifiesWhereResumePossible))),
            ("dispatches", .object([
                ("produced", .int(Int64(dispatchesProduced))), ("written", .int(Int64(dispatchesWritten))),
                ("replayed", .int(Int64(dispatchesReplayed))), ("delivered", .int(Int64(dispatchesDelivered))),
                ("in_flight", .int(Int64(dispatchesInFlight))), ("lost_allowed", .int(Int64(lostAllowed))),
                ("lost_forbidden", .int(Int64(lostForbidden))),
            ])),
            ("lost_by_reason", .object(lostByReason.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })),
            ("shards", .array(shards.map(\.json))),
            ("broken_rules", .object(brokenRules.sorted { $0.key < $1.key }.map { ($0.key, .int(Int64($0.value))) })),
            ("recent_faults", .array(recentFaults.map(\.json))),
            ("sessions_ledger", .array(sessionLedger.map(\.json))),
        ])
    }

    static func format(_ value: Double, _ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        }
        return text
    }

    static func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(1, width - text.count))
    }
}

extension ChaosReport.ShardFigures {
    var json: SimulatorJSON {
        .object([
            ("shard", [.int(Int64(shardID)), .int(Int64(shardCount))]), ("sessions", .int(Int64(sessions))),
            ("identifies", .int(Int64(identifies))), ("resumes", .int(Int64(resumes))),
            ("identifies_where_resume_possible", .int(Int64(identifiesWhereResumePossible))),
            ("faults", .int(Int64(faults))), ("faults_survived", .int(Int64(faultsSurvived))),
            ("produced", .int(Int64(dispatchesProduced))),
            ("written", .int(Int64(dispatchesWritten))), ("replayed", .int(Int64(dispatchesReplayed))),
            ("delivered", .int(Int64(dispatchesDelivered))), ("in_flight", .int(Int64(dispatchesInFlight))),
            ("lost_allowed", .int(Int64(lostAllowed))), ("lost_forbidden", .int(Int64(lostForbidden))),
            ("ready_ms", .int(readyMilliseconds)), ("window_ms", .int(windowMilliseconds)),
            ("ready_share", readyShare.map { .double($0) } ?? .null),
        ])
    }
}

extension ChaosLedger.SessionRecord {
    var account: ChaosReport.SessionAccount {
        ChaosReport.SessionAccount(
            sessionID: id, shardID: shard.shardID, shardCount: shard.shardCount, produced: produced,
            written: highestWritten, acknowledged: acknowledged, ended: ended?.label, lossAllowed: ended?.isAllowed ?? true,
            lost: ended == nil ? 0 : max(0, produced - acknowledged))
    }
}

extension ChaosLedger {
    /// The report at simulator time `now`.
    func report(now: Int64, chaos: ChaosConfiguration?) -> ChaosReport {
        let end = windowEnd.map { min($0, now) } ?? now
        var figures: [ChaosReport.ShardFigures] = []
        var inFlightByShard: [ShardKey: (delivered: Int, inFlight: Int)] = [:]
        for record in sessions.values {
            inFlightByShard[record.shard, default: (0, 0)].delivered += record.acknowledged
            inFlightByShard[record.shard, default: (0, 0)].inFlight += max(0, record.produced - record.acknowledged)
        }
        for (key, shard) in shards {
            var ready = shard.readyNanoseconds
            if let open = shard.readyConnection { ready += Self.clipped(from: open.since, to: now, end: windowEnd) }
            let window = shard.firstReadyAt.map { max(0, end - $0) } ?? 0
            let live = inFlightByShard[key] ?? (0, 0)
            figures.append(ChaosReport.ShardFigures(
                shardID: key.shardID, shardCount: key.shardCount, sessions: shard.sessions, identifies: shard.identifies,
                resumes: shard.resumes, identifiesWhereResumePossible: shard.identifiesWhereResumePossible,
                faults: shard.faults, faultsSurvived: shard.faultsSurvived, dispatchesProduced: shard.produced, dispatchesWritten: shard.written,
                dispatchesReplayed: shard.replayed, dispatchesDelivered: shard.deliveredEnded + live.delivered,
                dispatchesInFlight: live.inFlight, lostAllowed: shard.lostAllowed, lostForbidden: shard.lostForbidden,
                readyMilliseconds: ready / 1_000_000, windowMilliseconds: window / 1_000_000,
                readyShare: shard.firstReadyAt == nil ? nil : (window > 0 ? min(1, Double(ready) / Double(window)) : 1)))
        }
        figures.sort { ($0.shardCount, $0.shardID) < ($1.shardCount, $1.shardID) }
        func total(_ value: (ChaosReport.ShardFigures) -> Int) -> Int { figures.map(value).reduce(0, +) }
        return ChaosReport(
            timeMilliseconds: now / 1_000_000, chaos: chaos, faultsByKind: faultsByKind, sessions: total(\.sessions),
            identifies: total(\.identifies), resumes: total(\.resumes),
            identifiesWhereResumePossible: total(\.identifiesWhereResumePossible),
            dispatchesProduced: total(\.dispatchesProduced), dispatchesWritten: total(\.dispatchesWritten),
            dispatchesReplayed: total(\.dispatchesReplayed), dispatchesDelivered: total(\.dispatchesDelivered),
            dispatchesInFlight: total(\.dispatchesInFlight), lostByReason: lostByReason.filter { $0.value != 0 },
            lostAllowed: total(\.lostAllowed), lostForbidden: total(\.lostForbidden), shards: figures,
            brokenRules: brokenRules, recentFaults: faults,
            sessionLedger: (Array(sessions.values) + Array(recentlyEnded.values)).map(\.account)
                .sorted { ($0.shardCount, $0.shardID, $0.sessionID) < ($1.shardCount, $1.shardID, $1.sessionID) })
    }
}
