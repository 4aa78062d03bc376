import NIOConcurrencyHelpers

/// A ShardManager's start-up control: at most `size` shards between their start and the end of
/// their first connection attempt, and the stop that ends every start-up wait.
///
/// Every wait ends at ``close()`` (a stop, or a shard's fatal error) and on cancellation.
final class StartupGate: Sendable {
    private struct State {
        var size = 1
        var inUse = 0
        var closed = false
        var nextID: UInt64 = 0
        /// Waiters for a slot, in arrival order: resumed with true for a slot, false once closed.
        var enterers: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
        /// Waiters for the close.
        var closeWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// Whether ``close()`` was called.
    var isClosed: Bool { state.withLockedValue { $0.closed } }

    /// Sets how many shards may be starting at once.
    func setSize(_ size: Int) {
        let admitted = state.withLockedValue { state in
            state.size = max(1, size)
            return Self.admit(&state)
        }
        admitted.forEach { $0.resume(returning: true) }
    }

    /// Waits for a slot: true with one taken, false when the gate closed (or the task was cancelled).
    func enter() async -> Bool {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLockedValue { state -> Bool? in
                    if state.closed || Task.isCancelled { return false }
                    if state.inUse < state.size && state.enterers.isEmpty {
                        state.inUse += 1
                        return true
                    }
                    state.enterers.append((id, continuation))
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let cancelled = state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
                guard let index = state.enterers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.enterers.remove(at: index).continuation
            }
            cancelled?.resume(returning: false)
        }
    }

    /// Gives a slot back.
    func leave() {
        let admitted = state.withLockedValue { state in
            state.inUse = max(0, state.inUse - 1)
            return Self.admit(&state)
        }
        admitted.forEach { $0.resume(returning: true) }
    }

    /// Ends every wait, now and later.
    func close() {
        let (enterers, closeWaiters) = state.withLockedValue { state in
            state.closed = true
            defer {
                state.enterers = []
                state.closeWaiters = [:]
            }
            return (state.enterers.map(\.continuation), Array(state.closeWaiters.values))
        }
        enterers.forEach { $0.resume(returning: false) }
        closeWaiters.forEach { $0.resume() }
    }

    /// Returns once the gate is closed (or the task is cancelled).
    func waitUntilClosed() async {
        let id = state.withLockedValue { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLockedValue { state -> Bool in
                    if state.closed || Task.isCancelled { return true }
                    state.closeWaiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLockedValue { $0.closeWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Runs `operation` unless the gate closes first: its result, or nil when closed (the operation
    /// is then cancelled).
    func unlessClosed<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T? {
        if isClosed { return nil }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                await self.waitUntilClosed()
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    private static func admit(_ state: inout State) -> [CheckedContinuation<Bool, Never>] {
        var admitted: [CheckedContinuation<Bool, Never>] = []
        while !state.closed, state.inUse < state.size, !state.enterers.isEmpty {
            state.inUse += 1
            admitted.append(state.enterers.removeFirst().continuation)
        }
        return admitted
    }
}
