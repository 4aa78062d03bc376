@_spi(EchordInternals) @testable import EchordGateway
import EchordModels
import Testing

extension ShardStateMachine.Action {
    var connectingAttempt: Int? { if case .setStatus(.connecting(let attempt)) = self { attempt } else { nil } }
    var firstBeat: Duration? { if case .startHeartbeating(_, let first) = self { first } else { nil } }
}

/// The machine stepped event by event, with the exact actions expected after each.
@Suite("ShardStateMachine, step by step")
struct ShardStateMachineStepTests {
    static let session = GatewaySession(sessionID: "s1", sequence: 1, resumeGatewayURL: "ws://resume")

    @Test("a first connection, action by action: connect, HELLO, IDENTIFY, READY, beat, ACK")
    func firstConnection() throws {
        var driver = MachineDriver()
        #expect(driver.send(.start) == [
            .setStatus(.connecting(attempt: 0)), .connect(url: "ws://gateway", connection: 1, lastSequence: nil),
        ])
        #expect(driver.send(.connected) == [.armHelloTimeout(after: .seconds(20), connection: 1)])
        let hello = driver.send(.hello(heartbeatInterval: .seconds(40)))
        let first = try #require(hello.first?.firstBeat)
        #expect(hello == [
            .startHeartbeating(interval: .seconds(40), firstBeatAfter: first), .setStatus(.identifying), .sendIdentify,
        ])
        #expect(driver.send(.handshakeSent) == [.armReadyTimeout(after: .seconds(30), connection: 1)])
        #expect(driver.send(.dispatch(sequence: 1)) == [])
        #expect(driver.send(.ready(sessionID: "s1", resumeGatewayURL: "ws://resume")) == [
            .persistSession(Self.session), .setStatus(.ready),
        ])
        #expect(driver.machine.isReady)
        #expect(driver.send(.heartbeatDue, after: first) == [.sendHeartbeat(sequence: 1)])
        #expect(driver.send(.heartbeatAck, after: .milliseconds(50)) == [.recordLatency(.milliseconds(50))])
        #expect(driver.send(.heartbeatAck) == [], "a second ACK has no beat to time")
    }

    @Test("a resume, action by action: connect to the resume URL, RESUME, RESUMED")
    func resumeSteps() throws {
        var driver = MachineDriver(session: GatewaySession(sessionID: "s1", sequence: 9, resumeGatewayURL: "ws://resume"))
        #expect(driver.send(.start) == [
            .setStatus(.connecting(attempt: 0)), .connect(url: "ws://resume", connection: 1, lastSequence: 9),
        ])
        #expect(driver.send(.connected) == [.armHelloTimeout(after: .seconds(20), connection: 1)])
        let hello = driver.send(.hello(heartbeatInterval: .seconds(40)))
        let first = try #require(hello.first?.firstBeat)
        let resumed = GatewaySession(sessionID: "s1", sequence: 9, resumeGatewayURL: "ws://resume")
        #expect(hello == [
            .startHeartbeating(interval: .seconds(40), firstBeatAfter: first), .setStatus(.resuming), .sendResume(resumed),
        ])
        #expect(driver.send(.handshakeSent) == [.armReadyTimeout(after: .seconds(30), connection: 1)])
        #expect(driver.send(.dispatch(sequence: 10)) == [])
        #expect(driver.send(.resumed) == [
            .persistSession(GatewaySession(sessionID: "s1", sequence: 10, resumeGatewayURL: "ws://resume")), .setStatus(.ready),
        ])
    }

    /// Every input, for the "nothing applies here" checks.
    static let allInputs: [ShardStateMachine.Input] = [
        .connected, .connectFailed(.handshakeTimedOut), .hello(heartbeatInterval: .seconds(40)), .heartbeatDue,
        .heartbeatAck, .heartbeatRequested, .handshakeSent, .dispatch(sequence: 2),
        .ready(sessionID: "x", resumeGatewayURL: "ws://x"), .resumed, .reconnectRequested,
        .invalidSession(resumable: true), .sequenceBroken(.gap(last: 1, received: 3)), .closed(code: 4000),
        .transportFailed(.invalidUTF8), .timeoutFired(connection: 1), .reconnectDelayElapsed, .start,
        .commandWaitElapsed,
    ]

    @Test("idle: only start and stop do anything")
    func idleIgnores() {
        for input in Self.allInputs where input != .start {
            var driver = MachineDriver()
            #expect(driver.send(input) == [], "\(input)")
            #expect(driver.send(.start).compactMap(\.connectURL) == ["ws://gateway"], "after \(input)")
        }
    }

    @Test("connecting: everything but connected, a failed connect and stop waits for the socket")
    func connectingIgnores() {
        for input in Self.allInputs where ![.connected, .connectFailed(.handshakeTimedOut)].contains(input) {
            var driver = MachineDriver()
            driver.send(.start)
            #expect(driver.send(input) == [], "\(input)")
            #expect(driver.send(.connected) == [.armHelloTimeout(after: .seconds(20), connection: 1)], "after \(input)")
        }
    }

    @Test("waiting to reconnect: only the elapsed delay and stop do anything")
    func waitingIgnores() {
        for input in Self.allInputs where input != .reconnectDelayElapsed {
            var driver = MachineDriver()
            driver.connectUntilReady()
            let after = driver.send(.closed(code: 4000))
            #expect(after.compactMap(\.reconnectDelay).count == 1)
            #expect(driver.send(input) == [], "\(input)")
            #expect(driver.send(.reconnectDelayElapsed).compactMap(\.connectURL) == ["ws://resume"], "after \(input)")
        }
    }

    @Test("closing: dispatches move the sequence, the end of the socket follows the plan, the rest is ignored")
    func closingIgnores() {
        for input in Self.allInputs where ![.closed(code: 4000), .connectFailed(.handshakeTimedOut), .dispatch(sequence: 2)].contains(input) {
            var driver = MachineDriver()
            driver.connectUntilReady()
            #expect(driver.send(.reconnectRequested) == [.close(code: 4000)])
            #expect(driver.send(input) == [], "\(input)")
            let after = driver.send(.closed(code: 4000))
            #expect(after == [
                .recordReconnect(reason: .reconnectRequested), .setStatus(.disconnected(reason: .reconnectRequested)),
                .setStatus(.connecting(attempt: 0)), .connect(url: "ws://resume", connection: 2, lastSequence: 1),
            ], "after \(input)")
        }
    }

    @Test("stopped: nothing does anything")
    func stoppedIgnores() {
        var driver = MachineDriver()
        driver.send(.start)
        driver.send(.connectFailed(.handshakeTimedOut))
        #expect(driver.send(.stop(keepSession: true)) == [.setStatus(.stopped(error: nil)), .stopped(nil)])
        for input in Self.allInputs + [.stop(keepSession: false)] {
            #expect(driver.send(input) == [], "\(input)")
        }
    }

    // MARK: Commands and the save cadence

    @Test("commands wait for READY or RESUMED, then go in order; once ready they go at once")
    func heldCommands() {
        var driver = MachineDriver()
        driver.send(.start)
        #expect(driver.send(.commandSubmitted(id: 1)) == [.armCommandExpiry(at: .seconds(30))])
        #expect(driver.send(.commandSubmitted(id: 2), after: .seconds(1)) == [])
        driver.send(.connected)
        driver.send(.hello(heartbeatInterval: .seconds(40)))
        driver.send(.handshakeSent)
        driver.send(.dispatch(sequence: 1))
        #expect(driver.send(.ready(sessionID: "s1", resumeGatewayURL: "ws://resume")) == [
            .persistSession(Self.session), .setStatus(.ready), .sendCommand(id: 1), .sendCommand(id: 2), .armCommandExpiry(at: nil),
        ])
        #expect(driver.send(.commandSubmitted(id: 3)) == [.sendCommand(id: 3)])
        // While reconnecting they are held again.
        driver.send(.reconnectRequested)
        #expect(driver.send(.commandSubmitted(id: 4), after: .seconds(2)) == [.armCommandExpiry(at: .seconds(33))])
    }

    @Test("a held command expires after commandWaitLimit; the next deadline is the next command's")
    func commandExpiry() {
        var driver = MachineDriver { $0.commandWaitLimit = .seconds(10) }
        driver.send(.start)
        #expect(driver.send(.commandSubmitted(id: 1)) == [.armCommandExpiry(at: .seconds(10))])
        #expect(driver.send(.commandSubmitted(id: 2), after: .seconds(4)) == [])
        #expect(driver.send(.commandWaitElapsed, after: .seconds(6)) == [.expireCommand(id: 1), .armCommandExpiry(at: .seconds(14))])
        #expect(driver.send(.commandWaitElapsed, after: .seconds(1)) == [], "not yet due")
        #expect(driver.send(.commandWaitElapsed, after: .seconds(3)) == [.expireCommand(id: 2), .armCommandExpiry(at: nil)])
    }

    @Test("while events flow the session is saved at most once per sessionSaveInterval, and only when it changed")
    func saveCadence() {
        var driver = MachineDriver()
        driver.connectUntilReady()
        let saved = { (sequence: Int) in
            ShardStateMachine.Action.persistSession(GatewaySession(sessionID: "s1", sequence: sequence, resumeGatewayURL: "ws://resume"))
        }
        #expect(driver.send(.dispatch(sequence: 2), after: .seconds(1)) == [])
        #expect(driver.send(.dispatch(sequence: 3), after: .seconds(5)) == [saved(3)])
        #expect(driver.send(.dispatch(sequence: 4), after: .seconds(1)) == [])
        #expect(driver.send(.heartbeatDue, after: .milliseconds(4900)) == [.sendHeartbeat(sequence: 4)])
        #expect(driver.send(.heartbeatAck, after: .milliseconds(100)) == [.recordLatency(.milliseconds(100)), saved(4)])
        driver.send(.heartbeatDue, after: .seconds(10))
        #expect(driver.send(.heartbeatAck) == [.recordLatency(.zero)], "unchanged: not saved again")
    }

    // MARK: Back fast after a fault

    @Test("after a healthy connection (READY or RESUMED, every beat ACKed) a dropped or closed socket reconnects within a second, every time")
    func fastBackAfterHealthy() {
        var driver = MachineDriver(seed: 3)
        driver.connectUntilReady()
        for round in 0..<12 {
            driver.send(.heartbeatDue, after: .seconds(1))
            driver.send(.heartbeatAck)
            let code: UInt16? = round.isMultiple(of: 2) ? nil : 4000
            let after = driver.send(.closed(code: code), after: .seconds(4))
            let reason: DisconnectReason = code.map { .serverClose(code: $0) } ?? .dropped
            #expect(after.prefix(2) == [.recordReconnect(reason: reason), .setStatus(.disconnected(reason: reason))])
            let delay = after.compactMap(\.reconnectDelay).first ?? .zero
            #expect(delay < .seconds(1), "round \(round): waited \(delay)")
            let connect = driver.send(.reconnectDelayElapsed, after: delay)
            #expect(connect.compactMap(\.connectingAttempt) == [1], "round \(round)")
            driver.send(.connected)
            driver.send(.hello(heartbeatInterval: .seconds(40)))
            driver.send(.handshakeSent)
            #expect(driver.send(.resumed).contains(.setStatus(.ready)))
        }
    }

    @Test("backoff grows only across attempts that fail: a heartbeat left unanswered, or no RESUMED, counts as failed")
    func backoffGrowsOnFailures() {
        var driver = MachineDriver(seed: 5)
        driver.connectUntilReady()
        var attempts: [Int] = []
        for _ in 0..<5 {
            let after = driver.send(.closed(code: nil))
            let delay = after.compactMap(\.reconnectDelay).first ?? .zero
            attempts += driver.send(.reconnectDelayElapsed, after: delay).compactMap(\.connectingAttempt)
            driver.send(.connected)
            driver.send(.hello(heartbeatInterval: .seconds(40)))
            driver.send(.handshakeSent)
            driver.send(.resumed)
            driver.send(.heartbeatDue, after: .seconds(1))  // resumed, but the socket dies with this beat unanswered
        }
        #expect(attempts == [1, 2, 3, 4, 5])
        // No RESUMED at all: failed too.
        var noResume = MachineDriver(seed: 5)
        noResume.connectUntilReady()
        attempts = []
        for _ in 0..<3 {
            let delay = noResume.send(.closed(code: 4000)).compactMap(\.reconnectDelay).first ?? .zero
            attempts += noResume.send(.reconnectDelayElapsed, after: delay).compactMap(\.connectingAttempt)
            noResume.send(.connected)
            noResume.send(.hello(heartbeatInterval: .seconds(40)))
        }
        #expect(attempts == [1, 2, 3])
    }

    @Test("op 7, op 9 true and a zombie reconnect at once, without a delay")
    func immediateFaults() {
        for fault in [ShardStateMachine.Input.reconnectRequested, .invalidSession(resumable: true)] {
            var driver = MachineDriver()
            driver.connectUntilReady()
            #expect(driver.send(fault) == [.close(code: 4000)])
            let after = driver.send(.closed(code: nil))
            #expect(after.compactMap(\.reconnectDelay).isEmpty)
            #expect(after.compactMap(\.connectURL) == ["ws://resume"])
        }
    }

    // MARK: Sequence repair and transport failures

    @Test("a broken sequence closes with 4000 and resumes from the last contiguous s")
    func sequenceBrokenResumes() throws {
        let breaks: [SequenceBreak] = [.gap(last: 5, received: 7), .repeated(last: 5, received: 5), .backwards(last: 5, received: 3)]
        for broken in breaks {
            var driver = MachineDriver()
            driver.connectUntilReady()
            driver.send(.dispatch(sequence: 5))
            #expect(driver.send(.sequenceBroken(broken)) == [.close(code: 4000)])
            let after = driver.send(.closed(code: nil))
            #expect(after.prefix(2) == [.recordReconnect(reason: .sequenceBroken(broken)), .setStatus(.disconnected(reason: .sequenceBroken(broken)))])
            let delay = try #require(after.compactMap(\.reconnectDelay).first)
            #expect(delay < .seconds(1))
            #expect(driver.send(.reconnectDelayElapsed, after: delay).contains(.connect(url: "ws://resume", connection: 2, lastSequence: 5)))
            driver.send(.connected)
            #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).compactMap(\.resumeSession).map(\.sequence) == [5])
        }
    }

    @Test("invalid UTF-8 closes with 1007 (RFC 6455) and resumes; other transport failures close with 4000")
    func transportFailures() {
        var driver = MachineDriver()
        driver.connectUntilReady()
        #expect(driver.send(.transportFailed(.invalidUTF8)) == [.close(code: 1007)])
        let after = driver.send(.closed(code: nil))
        #expect(after.contains(.recordReconnect(reason: .transport(.invalidUTF8))))
        #expect(!after.contains(.persistSession(nil)))
        let delay = after.compactMap(\.reconnectDelay).first ?? .zero
        #expect(driver.send(.reconnectDelayElapsed, after: delay).compactMap(\.connectURL) == ["ws://resume"])
        driver.send(.connected)
        #expect(driver.send(.transportFailed(.unreadableMessage("HELLO"))) == [.close(code: 4000)])
    }

    @Test("each reason has its metric label")
    func metricLabels() {
        let labels: [(DisconnectReason, String)] = [
            (.zombie, "zombie"), (.reconnectRequested, "reconnect_opcode"), (.invalidSession(resumable: false), "invalid_session"),
            (.serverClose(code: 4000), "server_close"), (.dropped, "dropped"), (.helloTimeout, "timeout"),
            (.readyTimeout(resuming: true), "timeout"), (.transport(.connect(.upgradeRefused(status: 503))), "connect_failed"),
            (.transport(.invalidUTF8), "transport"), (.sequenceBroken(.gap(last: 1, received: 3)), "sequence"),
        ]
        for (reason, label) in labels { #expect(reason.metricLabel == label, "\(reason)") }
    }
}

@Suite("SequenceGate")
struct SequenceGateTests {
    typealias Gate = ShardStateMachine.SequenceGate

    @Test("in order passes; the first s of a new session sets the start")
    func inOrder() {
        var gate = Gate(last: nil)
        #expect(gate.check(sequence: 1, eventName: "READY") == .accept(sequence: 1))
        #expect(gate.check(sequence: 2, eventName: "GUILD_CREATE") == .accept(sequence: 2))
        var resumed = Gate(last: 41)
        #expect(resumed.check(sequence: 42, eventName: "MESSAGE_CREATE") == .accept(sequence: 42))
        #expect(resumed.last == 42)
    }

    @Test("a gap, a repeat and s going backwards break the sequence; what follows on the socket is dropped")
    func breaks() {
        let cases: [(Int, SequenceBreak)] = [(12, .gap(last: 10, received: 12)), (10, .repeated(last: 10, received: 10)), (4, .backwards(last: 10, received: 4))]
        for (received, expected) in cases {
            var gate = Gate(last: 10)
            #expect(gate.check(sequence: received, eventName: "MESSAGE_CREATE") == .broken(expected))
            #expect(gate.check(sequence: 11, eventName: "MESSAGE_CREATE") == .dropAfterBreak)
            #expect(gate.last == 10)
        }
    }

    @Test("a negative or missing s is skipped and changes nothing; a missing t is skipped but its s counts")
    func skips() {
        var gate = Gate(last: 3)
        #expect(gate.check(sequence: -1, eventName: "MESSAGE_CREATE") == .skipInvalidSequence(-1))
        #expect(gate.check(sequence: nil, eventName: "MESSAGE_CREATE") == .skipInvalidSequence(nil))
        #expect(gate.last == 3)
        #expect(gate.check(sequence: 4, eventName: nil) == .acceptWithoutName(sequence: 4))
        #expect(gate.check(sequence: 5, eventName: "") == .acceptWithoutName(sequence: 5))
        #expect(gate.check(sequence: 6, eventName: "MESSAGE_CREATE") == .accept(sequence: 6))
    }

    @Test("READY and RESUMED are always delivered; the rest by subscription")
    func delivery() {
        let none = GatewayEventSubscription([], includesUnknown: false)
        #expect(ShardStateMachine.delivers(eventName: "READY", subscription: none))
        #expect(ShardStateMachine.delivers(eventName: "RESUMED", subscription: none))
        #expect(!ShardStateMachine.delivers(eventName: "MESSAGE_CREATE", subscription: none))
        #expect(ShardStateMachine.delivers(eventName: "MESSAGE_CREATE", subscription: .all))
    }
}

@Suite("GatewayInbound")
struct GatewayInboundTests {
    func decode(_ text: String) throws -> GatewayInbound { try GatewayInbound(decoding: Array(text.utf8)) }

    @Test("HELLO, READY's session, op 9 and the rest are read once")
    func decodes() throws {
        guard case .hello(let interval) = try decode(#"{"op":10,"d":{"_trace":["x"],"heartbeat_interval":41250}}"#) else {
            Issue.record("not HELLO"); return
        }
        #expect(interval == .milliseconds(41250))
        let ready = try decode(#"{"op":0,"s":1,"t":"READY","d":{"v":10,"guilds":[{"id":"1"}],"session_id":"abc","resume_gateway_url":"wss://r"}}"#)
        guard case .ready(let envelope, let id, let url) = ready else { Issue.record("not READY"); return }
        #expect(envelope.sequence == 1 && id == "abc" && url == "wss://r")
        guard case .invalidSession(true) = try decode(#"{"op":9,"d":true}"#) else { Issue.record("op 9 true"); return }
        guard case .invalidSession(false) = try decode(#"{"op":9,"d":null}"#) else { Issue.record("op 9 null"); return }
        guard case .heartbeatAck = try decode(#"{"op":11}"#) else { Issue.record("op 11"); return }
        guard case .unexpected(let op) = try decode(#"{"op":2,"d":{}}"#) else { Issue.record("op 2"); return }
        #expect(op.rawValue == 2)
    }

    @Test("an unusable HELLO or READY is a typed error")
    func errors() {
        #expect(throws: GatewayInbound.DecodingError.self) { try decode(#"{"op":10,"d":{"heartbeat_interval":0}}"#) }
        #expect(throws: GatewayInbound.DecodingError.self) { try decode(#"{"op":10,"d":{"heartbeat_interval":"x"}}"#) }
        #expect(throws: GatewayInbound.DecodingError.self) { try decode(#"{"op":0,"s":1,"t":"READY","d":{"session_id":"a"}}"#) }
        #expect(throws: GatewayInbound.DecodingError.self) { try decode(#"not json"#) }
    }

    @Test("remote text is escaped for logs")
    func escaping() {
        #expect("a\nb\"c\\\u{7}".escapedForLog() == #"a\nb"c\\\u{7}"#)
    }
}
