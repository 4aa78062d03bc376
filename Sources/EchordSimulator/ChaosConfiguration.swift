/// Faults the simulator injects on its own while traffic flows (chaos mode), for soak tests.
///
/// The scheduler runs on the simulator's event loop and time source (with
/// ``SimulatorTimeSource/manual`` time, ``GatewaySimulator/advanceTime(by:)`` drives it) and draws
/// from a generator seeded with ``ChaosConfiguration/seed``, so one seed and one client behaviour
/// replay one run.
/// Faults land only on sessions with an identified, open connection: each such session is hit
/// `faultsPerMinute` times a minute on average (exponential gaps, one scheduler for all sessions).
public struct ChaosConfiguration: Sendable, Equatable {
    /// Faults per minute per live session; 0 injects nothing (the ledger still counts).
    public var faultsPerMinute: Double
    /// Seed of the chaos generator (which session, which fault, when).
    public var seed: UInt64
    /// The kinds to choose from, uniformly; empty means every kind.
    public var faults: [ChaosFaultKind]
    /// Simulator time, in milliseconds from the start, after which no fault is injected and the
    /// report's window ends (nil: until the simulator stops).
    public var durationMilliseconds: Int64?

    /// Chaos at `faultsPerMinute` per session, over every fault kind.
    public init(
        faultsPerMinute: Double, seed: UInt64 = 1, faults: [ChaosFaultKind] = [], durationMilliseconds: Int64? = nil
    ) {
        self.faultsPerMinute = faultsPerMinute
        self.seed = seed
        self.faults = faults
        self.durationMilliseconds = durationMilliseconds
    }

    /// The kinds actually drawn from: ``ChaosConfiguration/faults``, or every kind when it is empty.
    public var kinds: [ChaosFaultKind] { faults.isEmpty ? ChaosFaultKind.allCases : faults }
}

/// A fault chaos mode can inject: the simulator's fault list (``SimulatorFault``) as one-shot
/// events. Each name is what `--chaos-faults` takes.
public enum ChaosFaultKind: String, Sendable, CaseIterable, Hashable {
    /// End the TCP connection without a close frame (``SimulatorFault/dropConnection``).
    case drop
    /// Close with 4000, resumable (``SimulatorFault/close(code:)``).
    case close
    /// Op 7 RECONNECT (``SimulatorFault/reconnect``).
    case reconnect
    /// Op 9 with `d: true` (``SimulatorFault/invalidSession(resumable:)``).
    case invalidSessionResumable = "invalid-session-resumable"
    /// Op 9 with `d: false`: the session ends, and the dispatches it had not delivered are lost as
    /// Discord's rules allow.
    case invalidSession = "invalid-session"
    /// Stop acknowledging heartbeats on the connection (``SimulatorFault/stopHeartbeatAcks``) until
    /// the client gives it up.
    case zombie
    /// Stall the connection (``SimulatorFault/freeze``) and thaw it 1–4 s later.
    case freeze
    /// A frame that is not valid JSON (``SimulatorFault/malformedFrame``).
    case malformed
    /// Op 1, asking for a heartbeat now (``SimulatorFault/requestHeartbeat``).
    case heartbeatRequest = "heartbeat-request"
    /// Drop every connection, as a restarting gateway would (``SimulatorFault/restart``); it hits
    /// every session at once.
    case restart
    /// Close with 4009 and forget the session (``SimulatorFault/expireSessions``): the session ends
    /// as Discord's rules allow.
    case expireSession = "expire-session"

    /// Whether the fault ends the session (a RESUME is impossible afterwards).
    public var endsSession: Bool { self == .invalidSession || self == .expireSession }
}
