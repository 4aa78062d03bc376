import EchordGateway
import EchordTesting
import EchordModels
import EchordSimulator
import EchordTestSupport
import Logging
import Testing

/// Four shards against one simulator on manual time, hit by a fault every 1.25 s of simulated time
/// (every 5 s per shard) under steady traffic. Time moves only when every shard waits on the clock
/// (ready, or sleeping out a backoff); while a shard connects or handshakes the test waits for its
/// status instead, so the figures do not depend on how fast the machine is.
@Suite("Chaos soak", .timeLimit(.minutes(3 * TestTime.scale)))
struct ChaosSoakTests {
    enum Mix: String, CaseIterable, Sendable, CustomTestStringConvertible {
        /// Faults after which a RESUME is always possible.
        case resumable
        /// The simulator's whole fault list, session-ending ones included.
        case everything
        var testDescription: String { rawValue }
    }

    /// One kind of fault and what the test expects of it.
    struct Fault: Sendable {
        let name: String
        let fault: SimulatorFault
        /// The shard's connection ends because of it, at once.
        var disconnects = false
        /// The session ends: the next handshake is an IDENTIFY.
        var endsSession = false
        /// Every connection is hit, not only the target's.
        var everyShard = false
        /// Thaw 2 s later.
        var thawLater = false
    }

    static func raw(_ json: String) -> SimulatorFault { .rawFrame(bytes: Array(json.utf8)) }

    static let resumableFaults: [Fault] = [
        Fault(name: "drop", fault: .dropConnection, disconnects: true),
        Fault(name: "close 4000", fault: .close(code: 4000), disconnects: true),
        Fault(name: "op 7", fault: .reconnect, disconnects: true),
        Fault(name: "op 9 true", fault: .invalidSession(resumable: true), disconnects: true),
        Fault(name: "zombie", fault: .stopHeartbeatAcks),
        Fault(name: "freeze", fault: .freeze, thawLater: true),
        Fault(name: "op 1", fault: .requestHeartbeat),
        Fault(name: "malformed", fault: .malformedFrame),
        Fault(name: "close 1001", fault: .close(code: 1001), disconnects: true),
        Fault(name: "gap", fault: raw(#"{"op":0,"s":2000000000,"t":"ECHORD_FORGED","d":{}}"#), disconnects: true),
        Fault(name: "backwards", fault: raw(#"{"op":0,"s":0,"t":"ECHORD_FORGED","d":{}}"#), disconnects: true),
        Fault(name: "bad UTF-8", fault: .rawFrame(bytes: Array(#"{"op":0,"s":0,"t":"ECHORD_FORGED","d":""#.utf8) + [0xC3, 0x28, 0x22, 0x7D]),
              disconnects: true),
        Fault(name: "negative s", fault: raw(#"{"op":0,"s":-1,"t":"ECHORD_FORGED","d":{}}"#)),
        Fault(name: "no t", fault: raw(#"{"op":0,"s":null,"d":{}}"#)),
    ]

    static let sessionEndingFaults: [Fault] = [
        Fault(name: "op 9 false", fault: .invalidSession(resumable: false), disconnects: true, endsSession: true),
        Fault(name: "expire", fault: .expireSessions, disconnects: true, endsSession: true),
        Fault(name: "close 4009", fault: .close(code: 4009), disconnects: true, endsSession: true),
        Fault(name: "close 4007", fault: .close(code: 4007), disconnects: true, endsSession: true),
        Fault(name: "restart", fault: .restart, disconnects: true, everyShard: true),
    ]

    static let shardCount = 4
    static let step: Duration = .milliseconds(100)

    @Test("4 shards, ≥ 200 faults, ≥ 10,000 dispatches: every dispatch of every session once and in order, RESUME wherever possible",
          arguments: Mix.allCases)
    func soak(mix: Mix) async throws {
        var simConfig = SimulatorConfiguration()
        simConfig.timeSource = .manual
        simConfig.identifyBucketMilliseconds = 0
        simConfig.world.guildCount = 8
        simConfig.traffic.eventsPerSecond = 64
        var quiet = Logger(label: "echord.soak")
        quiet.logLevel = .critical
        let simulator = try await GatewaySimulator.start(configuration: simConfig, logger: quiet)
        let clock = ManualClock()
        var shards: [Shard] = []
        for id in 0..<Self.shardCount {
            var config = ShardConfiguration(token: BotToken(Harness.token), intents: [.guilds, .guildMessages, .messageContent])
            config.gatewayURL = simulator.gatewayURL
            config.shardID = id
            config.shardCount = Self.shardCount
            config.eventSubscription = .all
            config.compression = .none  // the forged frames are raw text
            shards.append(Shard(
                configuration: config, identifyQueue: UnlimitedIdentifyQueue(), clock: GatewayClock(clock), logger: quiet,
                seed: UInt64(100 + id)))
        }
        let collectors = shards.map(EventCollector.init)
        let disconnects = shards.map { _ in LockedBox(0) }
        var watchers: [Task<Void, Never>] = []
        for (shard, count) in zip(shards, disconnects) {
            watchers.append(Task {
                for await status in shard.statusUpdates() { if case .disconnected = status { count.mutate { $0 += 1 } } }
            })
        }
        let runs = shards.map { shard in Task { try await shard.run() } }
        defer {
            for shard in shards { shard.stop() }
            for watcher in watchers { watcher.cancel() }
        }

        func isWaitingOnTime(_ status: ShardStatus) -> Bool {
            switch status {
            case .ready, .disconnected, .stopped: true
            case .idle, .connecting, .identifying, .resuming: false
            }
        }
        /// Waits (real time, bounded) until no shard is connecting or handshaking.
        func settle() async throws {
            let deadline = ContinuousClock.now + TestTime.bound(.seconds(60))
            while !shards.allSatisfy({ isWaitingOnTime($0.status) }) {
                guard ContinuousClock.now < deadline else {
                    throw HarnessError.timedOut("shards never settled: \(shards.map(\.status))")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        func waitForDisconnects(_ targets: [Int], above before: [Int], after fault: String) async throws {
            let deadline = ContinuousClock.now + TestTime.bound(.seconds(60))
            while !targets.allSatisfy({ disconnects[$0].value > before[$0] }) {
                guard ContinuousClock.now < deadline else {
                    for entry in try await simulator.log().suffix(40) { print("SIMLOG \(entry)") }
                    throw HarnessError.timedOut("no disconnect after \(fault) on \(targets): \(shards.map(\.status))")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }

        let faults = mix == .resumable ? Self.resumableFaults : Self.resumableFaults + Self.sessionEndingFaults
        var injected = 0
        var injectedByName: [String: Int] = [:]
        var sessionEnds = [Int](repeating: 0, count: Self.shardCount)
        var thaws: [(at: Duration, shard: Int)] = []
        var now: Duration = .zero
        var nextFaultAt: Duration = .seconds(2)
        var faultIndex = 0

        for id in 0..<Self.shardCount { _ = try await waitForStatus(shards[id]) { $0 == .ready } }
        while injected < 200 {
            try await settle()
            for thaw in thaws where thaw.at <= now {
                _ = try await simulator.inject(.thaw, target: .shard(thaw.shard))
            }
            thaws.removeAll { $0.at <= now }
            if now >= nextFaultAt {
                let target = injected % Self.shardCount
                let fault = faults[faultIndex % faults.count]
                let targets = fault.everyShard ? Array(0..<Self.shardCount) : [target]
                // A fault lands on a ready shard: a session-ending one on a session already
                // ending would end it twice for one IDENTIFY.
                if targets.allSatisfy({ shards[$0].status == .ready }) {
                    let before = disconnects.map(\.value)
                    let affected = try await simulator.inject(fault.fault, target: fault.everyShard ? .all : .shard(target))
                    #expect(affected >= 1, "\(fault.name) on shard \(target) touched nothing")
                    if fault.endsSession { sessionEnds[target] += 1 }
                    if fault.thawLater { thaws.append((now + .seconds(2), target)) }
                    if fault.disconnects { try await waitForDisconnects(targets, above: before, after: "\(fault.name) (fault \(injected))") }
                    injected += 1
                    faultIndex += 1
                    injectedByName[fault.name, default: 0] += 1
                    nextFaultAt += .milliseconds(1250)
                    continue
                }
            }
            try await simulator.advanceTime(by: Self.step)
            clock.advance(by: Self.step)
            now += Self.step
            // Lets woken timers reach their shards; the figures below do not depend on it.
            try await Task.sleep(for: .milliseconds(1))
        }
        // Let the last faults play out, then mark the end of every stream.
        for _ in 0..<200 {
            try await settle()
            try await simulator.advanceTime(by: Self.step)
            clock.advance(by: Self.step)
            now += Self.step
        }
        for thaw in thaws { _ = try await simulator.inject(.thaw, target: .shard(thaw.shard)) }
        try await simulator.setTraffic(eventsPerSecond: 0)
        for id in 0..<Self.shardCount { _ = try await waitForStatus(shards[id]) { $0 == .ready } }
        try await simulator.dispatch(eventName: "ECHORD_END", data: .object([]))
        let endDeadline = ContinuousClock.now + TestTime.bound(.seconds(60))
        while !collectors.allSatisfy({ $0.count(of: "ECHORD_END") == 1 }), ContinuousClock.now < endDeadline {
            try await Task.sleep(for: .milliseconds(10))
        }

        // Every session's dispatches arrived once and in order: 1, 2, 3… from each READY on.
        let live = try await simulator.sessions().filter { $0.connectionID != nil }
        var total = 0
        // The simulator's ledger judges identifies, losses and readiness (see ChaosReport).
        let report = try await simulator.chaosReport()
        for (id, collector) in collectors.enumerated() {
            let dispatches = collector.dispatches
            total += dispatches.count
            #expect(collector.count(of: "ECHORD_END") == 1, "shard \(id) saw the end marker")
            #expect(collector.count(of: "ECHORD_FORGED") == 0, "shard \(id) delivered a forged dispatch")
            var sessions: [[Int]] = []
            for dispatch in dispatches {
                if dispatch.name == "READY" { sessions.append([]) }
                sessions[sessions.count - 1].append(dispatch.sequence ?? -1)
            }
            for (index, sequences) in sessions.enumerated() {
                #expect(sequences == Array(1...sequences.count), "shard \(id), session \(index): gap or repeat")
            }
            let session = live.filter { $0.shardID == id }
            #expect(session.count == 1)
            #expect(sessions.last?.last == session.first?.sequence, "shard \(id): the live session's every dispatch arrived")
            // An IDENTIFY only where the session was gone: the first, and one per session-ending fault.
            let figures = report.shards.first { $0.shardID == id && $0.shardCount == Self.shardCount }
            #expect(figures?.identifies == 1 + sessionEnds[id], "shard \(id): \(figures?.identifies ?? 0) IDENTIFYs for \(sessionEnds[id]) lost sessions")
            #expect(figures?.identifiesWhereResumePossible == 0)
        }
        #expect(report.lostForbidden == 0, "\(report.text)")
        #expect(report.identifiesWhereResumePossible == 0)
        #expect(report.passed)
        let shares = report.shards.map { $0.readyShare ?? 0 }
        print("chaos soak (\(mix.rawValue)): \(injected) faults \(injectedByName.sorted { $0.key < $1.key }), \(total) dispatches, \(now) simulated; ready share per shard: \(shares.map { ($0 * 1000).rounded() / 1000 })")
        #expect(injected >= 200)
        #expect(total >= 10_000)
        if mix == .resumable {
            for (id, share) in shares.enumerated() { #expect(share >= 0.9, "shard \(id) ready \(share)") }
        }
        for shard in shards { shard.stop() }
        for run in runs { _ = await run.result }
        try await simulator.shutdown()
    }

    func waitForStatus(_ shard: Shard, _ predicate: @escaping @Sendable (ShardStatus) -> Bool) async throws {
        let deadline = ContinuousClock.now + TestTime.bound(.seconds(60))
        while !predicate(shard.status) {
            guard ContinuousClock.now < deadline else { throw HarnessError.timedOut("status \(shard.status)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
