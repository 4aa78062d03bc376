import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

@Suite("RESUME: replay of missed dispatches, the resume URL, unknown and expired sessions, op 7", .timeLimit(.minutes(3 * TestTime.scale)))
struct ResumeTests {
    private static func event(_ n: Int) -> SimulatorJSON { .object([("n", .int(Int64(n)))]) }

    @Test("after a drop, RESUME on /resume replays exactly the missed dispatches with their s, then RESUMED")
    func replayAfterDrop() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, afterGuilds, _) = try await client.identifyAndReadGuilds()
            #expect(afterGuilds == 3)  // READY s=1, two GUILD_CREATEs

            // Two live dispatches before the drop.
            for n in 1...2 { #expect(try await simulator.dispatch(eventName: "ECHORD_TEST", data: Self.event(n)) == 1) }
            var lastSeen = afterGuilds
            for n in 1...2 {
                let live = try await client.nextPayload()
                #expect(live.eventName == "ECHORD_TEST")
                #expect(live.sequence == afterGuilds + n)
                #expect(live.data?["n"]?.integerValue == n)
                lastSeen = live.sequence ?? lastSeen
            }
            #expect(lastSeen == 5)

            await client.drop()
            try await simulator.waitUntilDetached(sessionID)

            // Three dispatches while nobody listens: kept for the RESUME.
            for n in 3...5 { #expect(try await simulator.dispatch(eventName: "ECHORD_TEST", data: Self.event(n)) == 1) }

            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: lastSeen)
            for n in 3...5 {
                let replayed = try await resumed.nextPayload()
                #expect(replayed.eventName == "ECHORD_TEST")
                #expect(replayed.sequence == afterGuilds + n)
                #expect(replayed.data?["n"]?.integerValue == n)
            }
            let marker = try await resumed.nextPayload()
            #expect(marker.eventName == "RESUMED")
            #expect(marker.op == 0)
            #expect(marker.sequence == 9)
            // Nothing repeated or extra after RESUMED.
            #expect(try await resumed.payloadsBeforeHeartbeatAck().isEmpty)

            // Live again: the next dispatch continues the numbering.
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: Self.event(6))
            let live = try await resumed.nextPayload()
            #expect(live.eventName == "ECHORD_TEST" && live.sequence == 10)
            #expect(try await resumed.payloadsBeforeHeartbeatAck().isEmpty)

            // The new connection got each replayed event exactly once.
            let newConnection = try #require(try await simulator.connectionID(of: sessionID))
            let sent = try await simulator.sentDispatches(onConnection: newConnection)
            #expect(sent.map(\.sequence) == [6, 7, 8, 9, 10])
            #expect(sent.map(\.name) == ["ECHORD_TEST", "ECHORD_TEST", "ECHORD_TEST", "RESUMED", "ECHORD_TEST"])
            #expect(try await simulator.sessions().map(\.id) == [sessionID])
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("RESUME with the latest s replays nothing and answers RESUMED at once")
    func resumeWithNothingMissed() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            await client.drop()
            try await simulator.waitUntilDetached(sessionID)
            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
            let marker = try await resumed.nextPayload()
            #expect(marker.eventName == "RESUMED")
            #expect(marker.sequence == last + 1)
        }
    }

    @Test("RESUME on /gateway works but is logged as not using resume_gateway_url")
    func resumeOnGatewayURL() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            await client.drop()
            try await simulator.waitUntilDetached(sessionID)
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: Self.event(1))
            #expect(try await simulator.brokenRules() == [])

            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/gateway")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
            let replayed = try await resumed.nextPayload()
            #expect(replayed.eventName == "ECHORD_TEST" && replayed.sequence == last + 1)
            let marker = try await resumed.nextPayload()
            #expect(marker.eventName == "RESUMED" && marker.sequence == last + 2)
            #expect(try await simulator.brokenRules() == ["RESUME not on resume_gateway_url"])
            #expect(try await simulator.connectionID(of: sessionID) != nil)
        }
    }

    @Test("RESUME of an unknown session gets op 9 false; the socket stays open for IDENTIFY")
    func resumeUnknownSession() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await client.helloThenResume(sessionID: "0123456789abcdef0123456789abcdef", sequence: 3)
            let invalid = try await client.nextPayload()
            #expect(invalid.op == 9)
            #expect(invalid.data == .bool(false))
            #expect(try await simulator.brokenRules() == ["RESUME of an unknown or expired session"])
            #expect(try await simulator.sessions().isEmpty)
            // Op 9 leaves the socket open: a fresh IDENTIFY on it is served.
            try await client.identify()
            let ready = try await client.nextPayload()
            #expect(ready.eventName == "READY" && ready.sequence == 1)
        }
    }

    @Test("RESUME of a live session id with another bot's token gets op 9 false")
    func resumeWithForeignToken() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            await client.drop()
            try await simulator.waitUntilDetached(sessionID)
            let other = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            let hello = try await other.nextPayload()
            #expect(hello.op == 10)
            try await other.resume(sessionID: sessionID, sequence: last, token: "MTIzNDU2Nzg5MDEyMzQ1Njc4.other.bot")
            let invalid = try await other.nextPayload()
            #expect(invalid.op == 9 && invalid.data == .bool(false))
            // The session itself is untouched and still resumable by its owner.
            #expect(try await simulator.sessions().map(\.id) == [sessionID])
        }
    }

    @Test("a dropped session expires after sessionResumeWindowMilliseconds; RESUME then gets op 9 false")
    func sessionExpiry() async throws {
        try await withSimulator({ $0.sessionResumeWindowMilliseconds = 10_000 }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await client.identifyAndReadGuilds()
            await client.drop()
            try await simulator.waitUntilDetached(sessionID)

            try await simulator.advanceTime(by: .seconds(9))
            #expect(try await simulator.sessions().map(\.id) == [sessionID], "still inside the resume window")
            try await simulator.advanceTime(by: .seconds(2))
            #expect(try await simulator.sessions().isEmpty, "expired 10 s after the drop")

            let late = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await late.helloThenResume(sessionID: sessionID, sequence: last)
            let invalid = try await late.nextPayload()
            #expect(invalid.op == 9)
            #expect(invalid.data == .bool(false))
            #expect(try await simulator.brokenRules() == ["RESUME of an unknown or expired session"])
        }
    }

    @Test("dispatches after op 7 are not sent on the old socket but replayed after RESUME", arguments: [false, true])
    func replayAfterReconnect(clientClosesOldSocket: Bool) async throws {
        try await withSimulator { simulator in
            let old = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, last, _) = try await old.identifyAndReadGuilds()
            let oldConnection = try #require(try await simulator.connectionID(of: sessionID))

            #expect(try await simulator.inject(.reconnect) == 1)
            let reconnect = try await old.nextPayload()
            #expect(reconnect.op == 7)
            #expect(reconnect.data == .null)

            for n in 1...2 { #expect(try await simulator.dispatch(eventName: "ECHORD_TEST", data: Self.event(n)) == 1) }
            // The heartbeat is answered after both dispatches were handled: nothing came before its ACK.
            #expect(try await old.payloadsBeforeHeartbeatAck().isEmpty)
            #expect(try await simulator.sentDispatches(onConnection: oldConnection).map(\.sequence) == [1, 2, 3])

            if clientClosesOldSocket {
                // discord.py's way: close with 4000, then resume.
                try await old.close(code: 4000)
                #expect(try await old.nextClose() == 4000)
                try await simulator.waitUntilDetached(sessionID)
            }

            let resumed = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await resumed.helloThenResume(sessionID: sessionID, sequence: last)
            for n in 1...2 {
                let replayed = try await resumed.nextPayload()
                #expect(replayed.eventName == "ECHORD_TEST")
                #expect(replayed.sequence == last + n)
                #expect(replayed.data?["n"]?.integerValue == n)
            }
            let marker = try await resumed.nextPayload()
            #expect(marker.eventName == "RESUMED" && marker.sequence == last + 3)
            #expect(try await resumed.payloadsBeforeHeartbeatAck().isEmpty)

            if !clientClosesOldSocket {
                // The RESUME took the session over while the old socket was still open: the
                // simulator closes it with 4000 (our choice; Discord's docs are silent).
                #expect(try await old.nextClose() == 4000)
            }
            // The 4000 close scheduled by op 7 must not touch the new connection.
            try await simulator.advanceTime(by: .seconds(6))
            #expect(try await resumed.payloadsBeforeHeartbeatAck().isEmpty)
            #expect(try await simulator.serverCloseCodes() == (clientClosesOldSocket ? [] : [4000]))
            #expect(try await simulator.brokenRules() == [])
        }
    }
}
