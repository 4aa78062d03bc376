import Logging
import NIOConcurrencyHelpers

/// Writes a shard's session to its ``SessionStore`` off the shard's main loop.
///
/// The main loop hands over the session to save and goes on at once; one task writes, and when
/// several sessions were handed over during a write only the newest is written next (saves are
/// coalesced). A slow store (``FileSessionStore`` syncs the file and its directory) so never holds
/// up heartbeats or events.
final class SessionSaver: Sendable {
    private enum Step {
        case save(GatewaySession?)
        case wait
        case end
    }

    private struct State {
        /// The newest session not yet taken by the writer (`.some(nil)` deletes).
        var pending: GatewaySession??
        var finished = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let store: any SessionStore
    private let shardID: Int
    private let shardCount: Int
    private let logger: Logger
    private let initial: GatewaySession?
    private let state = NIOLockedValueBox(State())

    /// - Parameter initial: the session the store holds already (restored at start).
    init(store: any SessionStore, shardID: Int, shardCount: Int, logger: Logger, initial: GatewaySession?) {
        self.store = store
        self.shardID = shardID
        self.shardCount = shardCount
        self.logger = logger
        self.initial = initial
    }

    /// Asks for `session` to be saved; replaces any session handed over but not yet written.
    func submit(_ session: GatewaySession?) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
            state.pending = .some(session)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Ends ``run()`` once what was submitted is written.
    func finish() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Writes submitted sessions until ``finish()``; a session equal to the last written is skipped.
    func run() async {
        var lastSaved = initial
        while true {
            let step: Step = state.withLockedValue { state in
                if let pending = state.pending {
                    state.pending = nil
                    return .save(pending)
                }
                return state.finished ? .end : .wait
            }
            switch step {
            case .save(let session):
                guard session != lastSaved else { continue }
                do {
                    try await store.save(session, shardID: shardID, shardCount: shardCount)
                    lastSaved = session
                } catch {
                    logger.warning("session could not be saved", metadata: ["error": "\(error)"])
                }
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLockedValue { state -> Bool in
                        if state.pending != nil || state.finished { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            case .end:
                return
            }
        }
    }
}
