import NIOConcurrencyHelpers

/// Parks tasks until a topic is posted (a PostgreSQL NOTIFY arrived), a time limit passes, or the
/// task is cancelled: the waiting half of "wait without busy polling".
final class NotificationHub: Sendable {
    private enum Waiter {
        /// Registered, not yet parked.
        case pending(topic: String)
        /// Parked on its continuation.
        case parked(topic: String, CheckedContinuation<Void, Never>)
        /// Woken before it parked: it returns as soon as it tries to park.
        case woken
    }

    private struct State {
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Returns when `topic` is posted (or everything is, see ``postAll()``), after `limit`, or on
    /// cancellation, whichever comes first.
    func wait(for topic: String, atMost limit: Duration) async {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            state.waiters[state.nextID] = .pending(topic: topic)
            return state.nextID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: limit)
                self.wake(id)
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = self.state.withLockedValue { state -> Bool in
                            guard case .pending(let topic) = state.waiters[id] else { return true }
                            state.waiters[id] = .parked(topic: topic, continuation)
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.wake(id)
                }
            }
            await group.next()
            group.cancelAll()
            self.wake(id)
        }
        state.withLockedValue { _ = $0.waiters.removeValue(forKey: id) }
    }

    /// Wakes every waiter of `topic`.
    func post(_ topic: String) {
        let woken = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters {
                switch waiter {
                case .pending(let waiting) where waiting == topic:
                    state.waiters[id] = .woken
                case .parked(let waiting, let continuation) where waiting == topic:
                    state.waiters[id] = .woken
                    woken.append(continuation)
                default:
                    break
                }
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Wakes every waiter (after a reconnect, when notifications may have been missed).
    func postAll() {
        let woken = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters {
                if case .parked(_, let continuation) = waiter { woken.append(continuation) }
                state.waiters[id] = .woken
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    private func wake(_ id: UInt64) {
        let continuation = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiters[id] else { return nil }
            state.waiters[id] = .woken
            if case .parked(_, let continuation) = waiter { return continuation }
            return nil
        }
        continuation?.resume()
    }
}
