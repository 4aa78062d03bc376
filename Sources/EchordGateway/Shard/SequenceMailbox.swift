import NIOConcurrencyHelpers

/// The newest `s` the open connection's channel handler accepted and the shard's main loop has not
/// taken yet: the handler leaves it here once per read, and the main loop takes it before it handles
/// any input, so whatever it does (a heartbeat, a close, a RESUME, a save) sees the newest `s`, in
/// the order the socket delivered it (the handler leaves the `s` of a read before it reports any
/// other input of that read).
///
/// A read wakes the main loop only when the session-save check is due (``wake(at:)``): while events
/// flow, the main loop hears of them once per ``ShardConfiguration/sessionSaveInterval``, not once
/// per read, and saves at the first event after the interval, as the state machine's cadence says.
/// Reports of any other connection than the one ``open(connection:wakeAt:)`` named are ignored (a
/// late read of an old socket), like its other inputs.
final class SequenceMailbox: Sendable {
    private struct State {
        var connection: Int?
        var sequence: Int?
        /// When a report wakes the main loop; nil once one did, until the main loop took it.
        var wakeAt: Duration?
    }

    private let state = NIOLockedValueBox(State())

    /// The handler of `connection` accepted dispatches up to `sequence` at `now`. Returns true when
    /// the main loop must be woken for it (then the caller reports ``DriverInput/sequenceReported(connection:)``).
    func post(_ sequence: Int, connection: Int, now: Duration) -> Bool {
        state.withLockedValue { state in
            guard state.connection == connection else { return false }
            state.sequence = sequence
            guard let wakeAt = state.wakeAt, now >= wakeAt else { return false }
            state.wakeAt = nil
            return true
        }
    }

    /// Connection `connection` opens: its reports are kept from now on; one at `wakeAt` or later
    /// wakes the main loop.
    func open(connection: Int, wakeAt: Duration) {
        state.withLockedValue { $0 = State(connection: connection, sequence: nil, wakeAt: wakeAt) }
    }

    /// The open connection is gone (or the shard stopped): no report is kept any more.
    func close() {
        state.withLockedValue { $0 = State() }
    }

    /// A report at `time` or later wakes the main loop (the next session-save check).
    func wake(at time: Duration) {
        state.withLockedValue { state in
            guard state.connection != nil else { return }
            state.wakeAt = time
        }
    }

    /// The `s` reported by `connection` since the last take, if any.
    func take(connection: Int?) -> Int? {
        state.withLockedValue { state in
            guard let connection, state.connection == connection else { return nil }
            defer { state.sequence = nil }
            return state.sequence
        }
    }

    /// The `s` waiting to be taken, if any (for ``Shard/session``, between the main loop's takes).
    var waiting: Int? { state.withLockedValue { $0.sequence } }
}
