import EchordModels

/// A scripted sequence of gateway events, played for every session, as
/// `../shared/conformance/README.md` describes.
public enum SimulatorScenario: String, Sendable, CaseIterable {
    /// READY and two GUILD_CREATEs; op 1 after 2.5 s; a message; op 7 with a message missed during the
    /// reconnect and replayed on RESUME; a message after RESUMED.
    case basic
    /// `basic`, then op 9 (false) and a fresh IDENTIFY with a message after it, then a close with 4000
    /// and a RESUME with a message after it.
    case full

    /// The heartbeat interval both scenarios use, in milliseconds.
    public static let heartbeatIntervalMilliseconds = 2000
    /// The number of guilds both scenarios use.
    public static let guildCount = 2
}

/// The steps of a scenario, each run by a timer.
enum ScenarioStep {
    case requestHeartbeat
    case messageBeforeReconnect
    case reconnect
    case messageAfterResume
    case invalidateSession
    case closeWith4000
}

/// Where a shard's script stands.
enum ScenarioProgress {
    case running
    case awaitingFirstResume
    case awaitingReidentify
    case awaitingSecondResume
    case done
}

extension SimulatorCore {
    func scenarioSessionReady(_ session: SimulatedSession) {
        guard configuration.scenario != nil else { return }
        let key = session.scenarioKey
        scenarioSessions[key] = session.id
        if scenarioProgress[key] == .awaitingReidentify {
            scenarioMessage("after-reidentify", key: key)
            scenarioProgress[key] = .awaitingSecondResume
            schedule(.scenario(key, .closeWith4000), after: Self.ms(1000))
        } else {
            scenarioProgress[key] = .running
            schedule(.scenario(key, .requestHeartbeat), after: Self.ms(2500))
        }
    }

    func scenarioSessionResumed(_ session: SimulatedSession) {
        guard configuration.scenario != nil else { return }
        let key = session.scenarioKey
        guard scenarioSessions[key] == session.id else { return }
        switch scenarioProgress[key] {
        case .awaitingFirstResume?:
            scenarioProgress[key] = .running
            schedule(.scenario(key, .messageAfterResume), after: Self.ms(500))
        case .awaitingSecondResume?:
            scenarioMessage("after-close-4000-resume", key: key)
            scenarioProgress[key] = .done
        default:
            break
        }
    }

    /// The client answered (or failed to answer in time) a heartbeat request.
    func scenarioHeartbeatAnswered(on conn: SimulatedConnection) {
        guard configuration.scenario != nil, let session = conn.session else { return }
        let key = session.scenarioKey
        guard scenarioSessions[key] == session.id, scenarioProgress[key] == .running else { return }
        schedule(.scenario(key, .messageBeforeReconnect), after: 0)
    }

    func runScenarioStep(_ step: ScenarioStep, key: ScenarioKey) {
        guard let scenario = configuration.scenario, let sessionID = scenarioSessions[key],
            let session = sessions[sessionID]
        else { return }
        let conn = session.connection
        switch step {
        case .requestHeartbeat:
            guard let conn, conn.isOpen else { return }
            requestHeartbeat(on: conn)
        case .messageBeforeReconnect:
            scenarioMessage("before-reconnect", key: key)
            schedule(.scenario(key, .reconnect), after: Self.ms(1000))
        case .reconnect:
            if let conn { sendReconnect(on: conn) }
            scenarioProgress[key] = .awaitingFirstResume
            scenarioMessage("missed-during-reconnect", key: key)
        case .messageAfterResume:
            scenarioMessage("after-resume", key: key)
            if scenario == .full {
                schedule(.scenario(key, .invalidateSession), after: Self.ms(1000))
            } else {
                scenarioProgress[key] = .done
            }
        case .invalidateSession:
            scenarioProgress[key] = .awaitingReidentify
            invalidateSession(session, resumable: false)
        case .closeWith4000:
            if let conn { closeConnection(conn, code: 4000, reason: "scenario: server closes with 4000") }
        }
    }

    /// A full MESSAGE_CREATE with `content` in the first guild of the scenario session's shard.
    private func scenarioMessage(_ content: String, key: ScenarioKey) {
        guard let sessionID = scenarioSessions[key], let session = sessions[sessionID] else { return }
        let guilds = world.guilds(shardID: session.shardID, shardCount: session.shardCount)
        guard let guild = guilds.first else { return }
        let message = world.messageCreate(
            id: nextMessageID(), guild: guild, channelIndex: 0, authorIndex: 1, content: content,
            includeContent: session.intents.contains(.messageContent))
        dispatch("MESSAGE_CREATE", json: message, to: session)
    }

    // MARK: Actions shared with faults

    /// Sends op 1 and expects a heartbeat back within 2 s of op 1 reaching the socket (see
    /// `SimulatorCore.transmit`).
    func requestHeartbeat(on conn: SimulatedConnection) {
        sendControl(.object([("t", nil), ("s", nil), ("op", 1), ("d", nil)]), opcode: 1, on: conn)
    }

    /// Sends op 7; later dispatches wait for the RESUME, and the socket is closed with 4000 5 s after
    /// op 7 reached it if the client has not closed it.
    func sendReconnect(on conn: SimulatedConnection) {
        sendControl(.object([("t", nil), ("s", nil), ("op", 7), ("d", nil)]), opcode: 7, on: conn)
        conn.reconnectRequested = true
    }

    /// Sends op 9. Not resumable: the session is gone and the connection waits for a new IDENTIFY.
    func invalidateSession(_ session: SimulatedSession, resumable: Bool) {
        if let conn = session.connection, conn.isOpen {
            sendControl(.object([("t", nil), ("s", nil), ("op", 9), ("d", .bool(resumable))]), opcode: 9, on: conn,
                        invalidatedSessionID: resumable ? nil : session.id)
        }
        record(.session("invalidated (resumable: \(resumable))"), connection: session.connection, session: session)
        if !resumable { removeSession(session, reason: .invalidSession) }
    }
}
