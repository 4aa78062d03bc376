/// Commands held until the shard is ready, and the cadence of session saves: inputs and actions of
/// the machine like every other rule.
extension ShardStateMachine {
    mutating func commandSubmitted(id: Int, now: Duration) -> [Action] {
        switch state {
        case .ready:
            return [.sendCommand(id: id)]
        case .idle, .waitingToReconnect, .connecting, .awaitingHello, .handshaking, .closing:
            heldCommands.append((id, now + configuration.commandWaitLimit))
            return heldCommands.count == 1 ? [.armCommandExpiry(at: now + configuration.commandWaitLimit)] : []
        case .stopped:
            return []  // the driver fails what it still holds when the shard's run ends
        }
    }

    mutating func commandWaitElapsed(now: Duration) -> [Action] {
        var actions: [Action] = []
        while let first = heldCommands.first, first.expiresAt <= now {
            heldCommands.removeFirst()
            actions.append(.expireCommand(id: first.id))
        }
        guard !actions.isEmpty else { return [] }
        return actions + [.armCommandExpiry(at: heldCommands.first?.expiresAt)]
    }

    /// The held commands go out (READY or RESUMED arrived).
    mutating func releaseCommands() -> [Action] {
        guard !heldCommands.isEmpty else { return [] }
        defer { heldCommands = [] }
        return heldCommands.map { .sendCommand(id: $0.id) } + [.armCommandExpiry(at: nil)]
    }

    mutating func persist(_ session: GatewaySession?) -> Action {
        lastPersisted = session
        return .persistSession(session)
    }

    /// The save cadence: at most one save per ``Configuration/sessionSaveInterval`` while events flow.
    mutating func saveIfDue(now: Duration) -> [Action] {
        guard now - lastSaveCheck >= configuration.sessionSaveInterval else { return [] }
        lastSaveCheck = now
        let current = session
        guard current != lastPersisted else { return [] }
        return [persist(current)]
    }
}
