import Logging
import NIOConcurrencyHelpers

/// Writes a shard's session to its ``SessionStore`` off the shard's main loop.
///
/// The main loop hands over the session to save and goes on at once. A writer runs only while
/// there is something to write: ``submit(_:)`` says when one must be started (a short child task
/// of the shard), and it ends once nothing is pending, so an idle shard keeps no task for saves.
/// When several sessions are handed over during a write only the newest is written next (saves are
/// coalesced). A slow store (``FileSessionStore`` syncs the file and its directory) so never holds
/// up heartbeats or events.
final class SessionSaver: Sendable {
    private struct State {
        /// The newest session not yet taken by the writer (`.some(nil)` deletes).
        var pending: GatewaySession??
        /// A writer is running (``drain()``).
        var writing = false
        var lastSaved: GatewaySession?
    }

    private let store: any SessionStore
    private let shardID: Int
    private let shardCount: Int
    private let logger: Logger
    private let state: NIOLockedValueBox<State>

    /// - Parameter initial: the session the store holds already (restored at start).
    init(store: any SessionStore, shardID: Int, shardCount: Int, logger: Logger, initial: GatewaySession?) {
        self.store = store
        self.shardID = shardID
        self.shardCount = shardCount
        self.logger = logger
        self.state = NIOLockedValueBox(State(lastSaved: initial))
    }

    /// Asks for `session` to be saved; replaces any session handed over but not yet written.
    /// Returns true when the caller must run ``drain()`` (no writer is running).
    func submit(_ session: GatewaySession?) -> Bool {
        state.withLockedValue { state in
            state.pending = .some(session)
            if state.writing { return false }
            state.writing = true
            return true
        }
    }

    /// Whether a session waits to be written with no writer running (after a writer was cancelled).
    var hasUnclaimedWork: Bool { state.withLockedValue { $0.pending != nil && !$0.writing } }

    /// Writes pending sessions until none is left; a session equal to the last written is skipped.
    /// A write that fails because the writer's task was cancelled is left pending for the next
    /// writer (the shard runs a last one, uncancelled, before `run()` returns). The bookkeeping is
    /// in synchronous functions: the async frame of the writer (a child task of every shard at
    /// READY) holds only the session being written.
    func drain() async {
        while let session = nextToWrite() {
            do {
                try await store.save(session, shardID: shardID, shardCount: shardCount)
                state.withLockedValue { $0.lastSaved = session }
            } catch {
                guard writeFailed(session, error: error) else { return }
            }
        }
    }

    /// The next session to write (`.some(nil)` deletes), skipping one equal to the last written;
    /// nil when none is pending (the writer ends).
    private func nextToWrite() -> GatewaySession?? {
        state.withLockedValue { state in
            while let pending = state.pending {
                state.pending = nil
                if pending != state.lastSaved { return .some(pending) }
            }
            state.writing = false
            return nil
        }
    }

    /// A write failed: when the writer's task was cancelled the session stays pending for the next
    /// writer and this one ends (false); otherwise it is logged and the writer goes on (true).
    private func writeFailed(_ session: GatewaySession?, error: any Error) -> Bool {
        if Task.isCancelled {
            state.withLockedValue { state in
                if state.pending == nil { state.pending = .some(session) }
                state.writing = false
            }
            return false
        }
        logger.warning("session could not be saved", metadata: ["error": "\(error)"])
        return true
    }

    /// Runs a writer for whatever is pending, if no writer runs (the last save of a shard).
    func drainUnclaimed() async {
        let claimed = state.withLockedValue { state -> Bool in
            guard state.pending != nil, !state.writing else { return false }
            state.writing = true
            return true
        }
        if claimed { await drain() }
    }
}
