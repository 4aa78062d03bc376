import Foundation

// Chaos mode: the simulator injects faults on its own, on its event loop and its time source, with
// a generator of its own seeded from `ChaosConfiguration.seed` (the world's and the traffic's
// generator stays untouched, so turning chaos on changes no payload).

extension SimulatorCore {
    func startChaosIfConfigured() {
        guard let chaos = configuration.chaos else { return }
        ledger.windowEnd = chaos.durationMilliseconds.map { Self.ms($0) }
        scheduleNextChaosFault()
    }

    /// Sessions a fault may hit: identified on an open connection that is not frozen and not
    /// already told to reconnect.
    func chaosTargets() -> [SimulatedSession] {
        sessions.values.filter { session in
            guard let conn = session.connection else { return false }
            return conn.isOpen && conn.phase == .identified && !conn.frozen && !conn.reconnectRequested
        }.sorted { $0.id < $1.id }
    }

    /// Arms the next fault after an exponential gap whose mean is one minute over
    /// `faultsPerMinute` times the live sessions (at least one).
    private func scheduleNextChaosFault() {
        guard let chaos = configuration.chaos, chaos.faultsPerMinute > 0 else { return }
        let perNanosecond = chaos.faultsPerMinute * Double(max(1, chaosTargets().count)) / 60e9
        // A uniform draw in (0, 1], never 0, so the logarithm is finite.
        let uniform = Double((chaosRandom.next() >> 11) + 1) / 9_007_199_254_740_992
        let gap = -Foundation.log(uniform) / perNanosecond
        schedule(.chaosFault, after: Int64(min(max(gap, 1e6), 600e9)))
    }

    func chaosFault() {
        guard let chaos = configuration.chaos else { return }
        if let end = chaos.durationMilliseconds, now >= Self.ms(end) {
            logger.info("chaos run over", metadata: ["faults": "\(ledger.faultsByKind.values.reduce(0, +))"])
            return
        }
        let targets = chaosTargets()
        if !targets.isEmpty {
            let session = targets[Int(chaosRandom.next() % UInt64(targets.count))]
            let kinds = chaos.kinds
            injectChaos(kinds[Int(chaosRandom.next() % UInt64(kinds.count))], into: session)
        }
        scheduleNextChaosFault()
    }

    /// Injects `kind` into `session`'s connection (every connection for a restart) and records it
    /// in the ledger.
    func injectChaos(_ kind: ChaosFaultKind, into session: SimulatedSession) {
        guard let conn = session.connection else { return }
        ledger.counted(kind)
        let hit = kind == .restart ? chaosTargets() : [session]
        for target in hit {
            guard let connection = target.connection else { continue }
            ledger.fault(kind, shard: target.shardKey, sessionID: target.id, connection: connection.id, now: now)
        }
        let onConnection = SimulatorTarget.connection(conn.id)
        switch kind {
        case .drop: _ = inject(.dropConnection, target: onConnection)
        case .close: _ = inject(.close(code: 4000), target: onConnection)
        case .reconnect: _ = inject(.reconnect, target: onConnection)
        case .invalidSessionResumable: _ = inject(.invalidSession(resumable: true), target: .session(session.id))
        case .invalidSession: _ = inject(.invalidSession(resumable: false), target: .session(session.id))
        case .zombie: _ = inject(.stopHeartbeatAcks, target: onConnection)
        case .freeze:
            _ = inject(.freeze, target: onConnection)
            schedule(.chaosThaw(connectionID: conn.id), after: Self.ms(1000 + Int64(chaosRandom.next() % 3001)))
        case .malformed: _ = inject(.malformedFrame, target: onConnection)
        case .heartbeatRequest: _ = inject(.requestHeartbeat, target: onConnection)
        case .restart: _ = inject(.restart, target: .all)
        case .expireSession: _ = inject(.expireSessions, target: .session(session.id))
        }
    }

    func chaosThaw(_ connectionID: Int) {
        guard let conn = connections[connectionID], conn.frozen, !conn.endLogged else { return }
        _ = inject(.thaw, target: .connection(connectionID))
    }

    func chaosReport() -> ChaosReport {
        ledger.report(now: now, chaos: configuration.chaos)
    }
}
