import EchordModels
import EchordSimulator
import NIOWebSocket
import Testing

/// Missed heartbeats and client closes: what each does to the session.
extension CloseCodeTests {
    // MARK: Missed heartbeats

    @Test("Without heartbeats, the socket closes with missedHeartbeatCloseCode at interval × (1 + grace), not before")
    func missedHeartbeatBeforeIdentify() async throws {
        try await withSimulator({
            $0.heartbeatIntervalMilliseconds = 1000
            $0.heartbeatGraceFraction = 0.5
        }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await simulator.advanceTime(by: .milliseconds(1400))
            #expect(try await simulator.serverCloseCodes().isEmpty)
            try await simulator.advanceTime(by: .milliseconds(200))
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4000, "got \(incoming)")
            try await Self.expectLoggedClose(
                simulator, code: 4000, rule: { $0 == "no heartbeat within the interval and its grace" })
            let close = try await simulator.log().first { if case .closedByServer = $0.kind { true } else { false } }
            #expect(close?.timeMilliseconds == 1500)
        }
    }

    @Test("The missed-heartbeat close code is configurable")
    func missedHeartbeatCustomCode() async throws {
        try await withSimulator({
            $0.heartbeatIntervalMilliseconds = 1000
            $0.missedHeartbeatCloseCode = 4009
        }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await simulator.advanceTime(by: .milliseconds(1600))
            #expect(try await client.next().closeCode == 4009)
            #expect(try await simulator.serverCloseCodes() == [4009])
        }
    }

    @Test("A session whose client missed its heartbeat stays resumable")
    func missedHeartbeatKeepsSession() async throws {
        try await withSimulator({
            $0.heartbeatIntervalMilliseconds = 1000
            $0.heartbeatGraceFraction = 0.5
        }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await client.identifyUntilReady()
            #expect(try await client.nextPayload().eventName == "GUILD_CREATE")
            #expect(try await client.nextPayload().eventName == "GUILD_CREATE")
            try await simulator.advanceTime(by: .milliseconds(1400))
            #expect(try await simulator.serverCloseCodes().isEmpty)
            try await simulator.advanceTime(by: .milliseconds(200))
            // Nothing else came between the last GUILD_CREATE and the close.
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4000, "got \(incoming)")
            try await simulator.waitForLogEntry { entry in
                if case .closedByServer(4000, _) = entry.kind { true } else { false }
            }
            let session = try await Self.waitUntilDetached(simulator, sessionID: sessionID)
            #expect(session?.id == sessionID)
            #expect(session?.connectionID == nil)
            #expect(session?.sequence == 3)

            // And it really resumes.
            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            #expect(try await resumed.next().op == 10)
            try await resumed.resume(sessionID: sessionID, sequence: 3)
            let dispatch = try await resumed.nextPayload()
            #expect(dispatch.eventName == "RESUMED")
            #expect(dispatch.sequence == 4)
        }
    }

    @Test("A client that heartbeats every interval of simulated time is never closed")
    func regularHeartbeatsKeepTheConnection() async throws {
        try await withSimulator({
            $0.heartbeatIntervalMilliseconds = 1000
            $0.heartbeatGraceFraction = 0.5
        }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            for _ in 0..<5 {
                try await client.heartbeat(nil)
                // The ACK proves the simulator handled the heartbeat before time moves on.
                #expect(try await client.next().op == 11)
                try await simulator.advanceTime(by: .milliseconds(1000))
            }
            #expect(try await simulator.serverCloseCodes().isEmpty)
            #expect(try await simulator.brokenRules().isEmpty)

            // The deadline runs from the last heartbeat: one at t=5000 ms keeps the socket until 6500 ms.
            try await client.heartbeat(nil)
            #expect(try await client.next().op == 11)
            try await simulator.advanceTime(by: .milliseconds(1499))
            #expect(try await simulator.serverCloseCodes().isEmpty)
            try await simulator.advanceTime(by: .milliseconds(1))
            #expect(try await client.next().closeCode == 4000)
            #expect(try await simulator.serverCloseCodes() == [4000])
        }
    }

    // MARK: Client closes

    @Test("A client close with 1000 or 1001 ends the session: a later RESUME gets op 9 false", arguments: [UInt16(1000), 1001])
    func clientCloseEndsSession(code: UInt16) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await client.identifyUntilReady()
            #expect(try await simulator.sessions().map(\.id) == [sessionID])
            try await client.close(code: code)
            // The simulator echoes the close.
            #expect(try await client.nextClose() == code)
            try await simulator.waitForLogEntry { $0.kind == .closedByClient(code: code) }
            #expect(try await simulator.sessions().isEmpty)
            #expect(try await simulator.log().contains { $0.kind == .session("ended by client close \(code)") })

            let resumer = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            #expect(try await resumer.next().op == 10)
            try await resumer.resume(sessionID: sessionID, sequence: 3)
            let invalid = try await resumer.next()
            #expect(invalid.op == 9)
            #expect(invalid.data == .bool(false))
            #expect(try await simulator.brokenRules() == ["RESUME of an unknown or expired session"])
            #expect(try await simulator.serverCloseCodes().isEmpty)
        }
    }

    @Test("A client close with another code keeps the session resumable", arguments: [UInt16(4000), 4900, 1012])
    func clientCloseKeepsSession(code: UInt16) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await client.identifyUntilReady()
            try await client.close(code: code)
            #expect(try await client.nextClose() == code)
            try await simulator.waitForLogEntry { $0.kind == .closedByClient(code: code) }
            let session = try await Self.waitUntilDetached(simulator, sessionID: sessionID)
            #expect(session?.id == sessionID)
            #expect(session?.connectionID == nil)
            #expect(!(try await simulator.log().contains { if case .session(let what) = $0.kind { what.hasPrefix("ended") } else { false } }))

            let resumer = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            #expect(try await resumer.next().op == 10)
            try await resumer.resume(sessionID: sessionID, sequence: 3)
            let resumed = try await resumer.nextPayload()
            #expect(resumed.eventName == "RESUMED")
            #expect(resumed.sequence == 4)
            #expect(try await simulator.brokenRules().isEmpty)
            #expect(try await simulator.sessions().first?.connectionID != nil)
        }
    }
}
