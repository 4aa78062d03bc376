import EchordGateway
import EchordModels
import Testing

/// Drives a machine through inputs at given times, keeping every action.
struct MachineDriver {
    var machine: ShardStateMachine
    var now: Duration = .zero
    var log: [ShardStateMachine.Action] = []

    init(session: GatewaySession? = nil, seed: UInt64 = 42, configure: (inout ShardStateMachine.Configuration) -> Void = { _ in }) {
        var configuration = ShardStateMachine.Configuration(gatewayURL: "ws://gateway")
        configure(&configuration)
        machine = ShardStateMachine(configuration: configuration, session: session, seed: seed)
    }

    @discardableResult
    mutating func send(_ input: ShardStateMachine.Input, after elapsed: Duration = .zero) -> [ShardStateMachine.Action] {
        now += elapsed
        let actions = machine.handle(input, now: now)
        log += actions
        return actions
    }

    /// start → connected → HELLO → handshake sent → READY, with the given interval.
    mutating func connectUntilReady(interval: Duration = .seconds(40), sessionID: String = "s1") {
        send(.start)
        send(.connected)
        send(.hello(heartbeatInterval: interval))
        send(.handshakeSent)
        send(.dispatch(sequence: 1))
        send(.ready(sessionID: sessionID, resumeGatewayURL: "ws://resume"))
    }

    /// Feeds `.closed` after the machine asked for a close, and returns what followed.
    mutating func completeClose(code: UInt16? = nil) -> [ShardStateMachine.Action] { send(.closed(code: code)) }
}

extension ShardStateMachine.Action {
    var connectURL: String? { if case .connect(let url, _, _) = self { url } else { nil } }
    var closeCode: UInt16? { if case .close(let code) = self { code } else { nil } }
    var reconnectDelay: Duration? { if case .scheduleReconnect(let d) = self { d } else { nil } }
    var isIdentify: Bool { self == .sendIdentify }
    var resumeSession: GatewaySession? { if case .sendResume(let s) = self { s } else { nil } }
}

@Suite("ShardStateMachine")
struct ShardStateMachineTests {
    @Test("start connects to the default URL; HELLO starts heartbeats with jitter below one interval, then IDENTIFY")
    func helloThenIdentify() {
        var driver = MachineDriver()
        #expect(driver.send(.start).compactMap(\.connectURL) == ["ws://gateway"])
        #expect(driver.send(.connected) == [.armHelloTimeout(after: .seconds(20), connection: 1)])
        let actions = driver.send(.hello(heartbeatInterval: .seconds(40)))
        guard case .startHeartbeating(let interval, let first)? = actions.first else {
            Issue.record("no heartbeat start: \(actions)")
            return
        }
        #expect(interval == .seconds(40))
        #expect(first >= .zero && first < .seconds(40))
        #expect(actions.contains(.sendIdentify))
        #expect(actions.contains(.setStatus(.identifying)))
        #expect(driver.send(.handshakeSent) == [.armReadyTimeout(after: .seconds(30), connection: 1)])
    }

    @Test("the first-beat jitter differs between seeds and spreads over the interval")
    func jitterSpreads() {
        var firsts: Set<Duration> = []
        for seed in 0..<20 as Range<UInt64> {
            var driver = MachineDriver(seed: seed)
            driver.send(.start)
            driver.send(.connected)
            if case .startHeartbeating(_, let first)? = driver.send(.hello(heartbeatInterval: .seconds(10))).first {
                firsts.insert(first)
            }
        }
        #expect(firsts.count == 20)
        #expect(firsts.contains { $0 < .seconds(5) } && firsts.contains { $0 >= .seconds(5) })
    }

    @Test("heartbeats carry the last sequence; an ACK records the latency")
    func heartbeatsAndLatency() {
        var driver = MachineDriver()
        driver.connectUntilReady()
        driver.send(.dispatch(sequence: 7))
        #expect(driver.send(.heartbeatDue, after: .seconds(1)) == [.sendHeartbeat(sequence: 7)])
        #expect(driver.send(.heartbeatAck, after: .milliseconds(35)) == [.recordLatency(.milliseconds(35))])
        #expect(driver.send(.heartbeatDue, after: .seconds(40)) == [.sendHeartbeat(sequence: 7)])
    }

    @Test("before any dispatch the heartbeat's sequence is null")
    func nullSequence() {
        var driver = MachineDriver()
        driver.send(.start)
        driver.send(.connected)
        driver.send(.hello(heartbeatInterval: .seconds(40)))
        #expect(driver.send(.heartbeatDue) == [.sendHeartbeat(sequence: nil)])
    }

    @Test("no ACK by the next beat is a zombie: close with a resumable code, then RESUME on the resume URL")
    func zombie() {
        var driver = MachineDriver()
        driver.connectUntilReady()
        driver.send(.heartbeatDue)
        let actions = driver.send(.heartbeatDue, after: .seconds(40))
        #expect(actions == [.close(code: 4000)])
        let after = driver.completeClose()
        #expect(after.contains(.recordReconnect(reason: .zombie)))
        #expect(after.compactMap(\.connectURL) == ["ws://resume"])
        driver.send(.connected)
        let hello = driver.send(.hello(heartbeatInterval: .seconds(40)))
        #expect(hello.compactMap(\.resumeSession).first?.sessionID == "s1")
    }

    @Test("server op 1 gets an immediate heartbeat")
    func serverRequestsHeartbeat() {
        var driver = MachineDriver()
        driver.connectUntilReady()
        driver.send(.dispatch(sequence: 3))
        #expect(driver.send(.heartbeatRequested) == [.sendHeartbeat(sequence: 3)])
    }

    @Test("op 7 closes with a resumable code and resumes at once")
    func reconnectOpcode() {
        var driver = MachineDriver()
        driver.connectUntilReady()
        driver.send(.dispatch(sequence: 5))
        #expect(driver.send(.reconnectRequested) == [.close(code: 4000)])
        let after = driver.completeClose()
        #expect(after.compactMap(\.connectURL) == ["ws://resume"])
        #expect(after.compactMap(\.reconnectDelay).isEmpty)
        driver.send(.connected)
        #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).compactMap(\.resumeSession)
            == [GatewaySession(sessionID: "s1", sequence: 5, resumeGatewayURL: "ws://resume")])
        driver.send(.handshakeSent)
        #expect(driver.send(.resumed).contains(.setStatus(.ready)))
    }

    @Test("a dispatch read from a closing socket (after op 7 or op 9 true) moves the RESUME's seq past it")
    func dispatchWhileClosing() {
        for fault in [ShardStateMachine.Input.reconnectRequested, .invalidSession(resumable: true)] {
            var driver = MachineDriver()
            driver.connectUntilReady()
            driver.send(.dispatch(sequence: 5))
            #expect(driver.send(fault) == [.close(code: 4000)])
            driver.send(.dispatch(sequence: 6))  // already delivered to the user
            _ = driver.completeClose()
            driver.send(.connected)
            #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).compactMap(\.resumeSession).map(\.sequence) == [6])
        }
        // After op 9 false the session is gone; a late dispatch of the old socket brings none back.
        var driver = MachineDriver()
        driver.connectUntilReady()
        driver.send(.invalidSession(resumable: false))
        driver.send(.dispatch(sequence: 2))
        #expect(driver.machine.session == nil)
    }

    @Test("op 9 true resumes; op 9 false drops the session and identifies on the default URL after 1–5 s")
    func invalidSession() {
        var resumable = MachineDriver()
        resumable.connectUntilReady()
        #expect(resumable.send(.invalidSession(resumable: true)) == [.close(code: 4000)])
        #expect(resumable.completeClose().compactMap(\.connectURL) == ["ws://resume"])

        for seed in 0..<10 as Range<UInt64> {
            var driver = MachineDriver(seed: seed)
            driver.connectUntilReady()
            let actions = driver.send(.invalidSession(resumable: false))
            #expect(actions == [.persistSession(nil), .close(code: 1000)])
            let after = driver.completeClose()
            let delay = after.compactMap(\.reconnectDelay).first
            #expect(delay.map { $0 >= .seconds(1) && $0 <= .seconds(5) } == true)
            #expect(driver.machine.session == nil)
            #expect(driver.send(.reconnectDelayElapsed, after: delay ?? .zero).compactMap(\.connectURL) == ["ws://gateway"])
            driver.send(.connected)
            #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).contains(.sendIdentify))
        }
    }

    @Test("fatal close codes stop the shard with a typed error and no reconnect", arguments: [4004, 4010, 4011, 4012, 4013, 4014] as [UInt16])
    func fatalCodes(code: UInt16) {
        var driver = MachineDriver()
        driver.connectUntilReady()
        let actions = driver.send(.closed(code: code))
        let error = ShardError.fatalClose(GatewayCloseCode(rawValue: code))
        #expect(actions == [.setStatus(.stopped(error: error)), .stopped(error)])
        #expect(driver.machine.isStopped)
        #expect(driver.send(.reconnectDelayElapsed).isEmpty)
        #expect(driver.send(.start).isEmpty)
    }

    @Test("4003, 4007 and 4009 start a new session: IDENTIFY on the default URL", arguments: [4003, 4007, 4009] as [UInt16])
    func newSessionCodes(code: UInt16) {
        var driver = MachineDriver()
        driver.connectUntilReady()
        let actions = driver.send(.closed(code: code))
        #expect(actions.first == .persistSession(nil))
        #expect(driver.machine.session == nil)
        let delay = actions.compactMap(\.reconnectDelay).first ?? .zero
        let connect = driver.send(.reconnectDelayElapsed, after: delay)
        #expect(connect.compactMap(\.connectURL) == ["ws://gateway"])
        driver.send(.connected)
        #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).contains(.sendIdentify))
    }

    @Test("other codes and a dropped connection resume on the resume URL",
          arguments: [4000, 4001, 4002, 4005, 4008, 1000, 1001, 1006, 1011, nil] as [UInt16?])
    func resumableCodes(code: UInt16?) {
        var driver = MachineDriver()
        driver.connectUntilReady()
        driver.send(.dispatch(sequence: 9))
        let actions = driver.send(.closed(code: code))
        #expect(!actions.contains(.persistSession(nil)))
        let delay = actions.compactMap(\.reconnectDelay).first ?? .zero
        #expect(delay < .seconds(1))
        #expect(driver.send(.reconnectDelayElapsed, after: delay).compactMap(\.connectURL) == ["ws://resume"])
        driver.send(.connected)
        #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).compactMap(\.resumeSession).first?.sequence == 9)
    }

    @Test("no HELLO in time: close and reconnect")
    func helloTimeout() {
        var driver = MachineDriver()
        driver.send(.start)
        driver.send(.connected)
        #expect(driver.send(.timeoutFired(connection: 1), after: .seconds(20)) == [.close(code: 4000)])
        let after = driver.completeClose()
        #expect(after.contains(.recordReconnect(reason: .helloTimeout)))
        #expect(after.contains(.setStatus(.disconnected(reason: .helloTimeout))))
    }

    @Test("no READY in time: close and reconnect; a stale timer of an old connection is ignored")
    func readyTimeout() {
        var driver = MachineDriver()
        driver.send(.start)
        driver.send(.connected)
        driver.send(.hello(heartbeatInterval: .seconds(40)))
        driver.send(.handshakeSent)
        #expect(driver.send(.timeoutFired(connection: 2)).isEmpty)
        #expect(driver.send(.timeoutFired(connection: 1), after: .seconds(30)) == [.close(code: 4000)])
    }

    @Test("two failed resumes fall back to IDENTIFY")
    func resumeFallback() {
        var driver = MachineDriver()
        driver.connectUntilReady()
        // The connection drops; two resumes in a row die before RESUMED.
        var actions = driver.send(.closed(code: nil))
        for attempt in 1...2 {
            let delay = actions.compactMap(\.reconnectDelay).first ?? .zero
            #expect(driver.send(.reconnectDelayElapsed, after: delay).compactMap(\.connectURL) == ["ws://resume"])
            driver.send(.connected)
            #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).compactMap(\.resumeSession).count == 1, "attempt \(attempt)")
            driver.send(.handshakeSent)
            actions = driver.send(.closed(code: nil))
        }
        #expect(actions.contains(.persistSession(nil)))
        let delay = actions.compactMap(\.reconnectDelay).first ?? .zero
        #expect(driver.send(.reconnectDelayElapsed, after: delay).compactMap(\.connectURL) == ["ws://gateway"])
        driver.send(.connected)
        #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).contains(.sendIdentify))
    }

    @Test("backoff ceilings double up to the cap, with full jitter, and restart after a healthy connection")
    func backoff() {
        var driver = MachineDriver(seed: 7) { $0.backoffCap = .seconds(8) }
        driver.send(.start)
        var delays: [Duration] = []
        for _ in 0..<8 {
            let actions = driver.send(.connectFailed(.connectionFailed("refused")))
            let delay = actions.compactMap(\.reconnectDelay).first ?? .zero
            delays.append(delay)
            driver.send(.reconnectDelayElapsed, after: delay)
        }
        let ceilings: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8), .seconds(8), .seconds(8)]
        for (delay, ceiling) in zip(delays, ceilings) { #expect(delay >= .zero && delay < ceiling) }
        // A connection that reached READY and got a heartbeat ACK restarts the backoff at once.
        driver.send(.connected)
        driver.send(.hello(heartbeatInterval: .seconds(40)))
        driver.send(.handshakeSent)
        driver.send(.ready(sessionID: "s", resumeGatewayURL: "ws://resume"))
        driver.send(.heartbeatDue, after: .seconds(1))
        driver.send(.heartbeatAck)
        let actions = driver.send(.closed(code: nil), after: .seconds(1))
        #expect((actions.compactMap(\.reconnectDelay).first ?? .zero) < .seconds(1))
    }

    @Test("full jitter: delays at the cap spread over the whole range across seeds")
    func fullJitter() {
        var capped: [Duration] = []
        for seed in 0..<20 as Range<UInt64> {
            var driver = MachineDriver(seed: seed) { $0.backoffCap = .seconds(8) }
            driver.send(.start)
            for attempt in 0..<6 {
                let delay = driver.send(.connectFailed(.connectionFailed("refused"))).compactMap(\.reconnectDelay).first ?? .zero
                if attempt >= 3 { capped.append(delay) }
                driver.send(.reconnectDelayElapsed, after: delay)
            }
        }
        #expect(capped.allSatisfy { $0 < .seconds(8) })
        #expect(capped.contains { $0 < .seconds(2) } && capped.contains { $0 > .seconds(6) })
    }

    @Test("a restored session resumes on its resume URL from the start")
    func restoredSession() {
        let session = GatewaySession(sessionID: "old", sequence: 41, resumeGatewayURL: "ws://resume-old")
        var driver = MachineDriver(session: session)
        #expect(driver.send(.start).compactMap(\.connectURL) == ["ws://resume-old"])
        driver.send(.connected)
        #expect(driver.send(.hello(heartbeatInterval: .seconds(40))).compactMap(\.resumeSession) == [session])
    }

    @Test("stop while the socket is still connecting: a failed connect completes the stop")
    func stopWhileConnecting() {
        var driver = MachineDriver()
        driver.send(.start)
        #expect(driver.send(.stop(keepSession: true)) == [.close(code: 4000)])
        #expect(driver.send(.connectFailed(.connectionFailed("refused"))) == [.setStatus(.stopped(error: nil)), .stopped(nil)])
        #expect(driver.machine.isStopped)
    }

    @Test("stop keeping the session closes with a resumable code; stop ending it closes with 1000")
    func stop() {
        var keep = MachineDriver()
        keep.connectUntilReady()
        #expect(keep.send(.stop(keepSession: true)) == [.close(code: 4000)])
        #expect(keep.completeClose() == [.setStatus(.stopped(error: nil)), .stopped(nil)])
        #expect(keep.machine.session?.sessionID == "s1")

        var end = MachineDriver()
        end.connectUntilReady()
        #expect(end.send(.stop(keepSession: false)) == [.persistSession(nil), .close(code: 1000)])
        #expect(end.completeClose() == [.setStatus(.stopped(error: nil)), .stopped(nil)])
        #expect(end.machine.session == nil)
    }
}
