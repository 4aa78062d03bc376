import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

/// The ledger behind the chaos report, checked with a scripted client: what it counts as written,
/// replayed, delivered and lost, and that it catches a client that identifies where it could resume.
@Suite("Chaos ledger and report", .timeLimit(.minutes(3 * TestTime.scale)))
struct ChaosLedgerTests {
    private static let marker: SimulatorJSON = .object([("n", 1)])

    /// Identifies, acknowledges READY and the GUILD_CREATEs, then gets two more dispatches it does
    /// not acknowledge. Returns the session id and the last `s` acknowledged.
    private static func identifyWithTwoUnacknowledged(
        _ client: TestGatewayClient, on simulator: GatewaySimulator
    ) async throws -> (sessionID: String, acknowledged: Int) {
        let (sessionID, last, _) = try await client.identifyAndReadGuilds()
        try await client.heartbeatUntilAck(last)
        for _ in 0..<2 {
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: marker)
            _ = try await client.nextDispatch(named: "ECHORD_TEST")
        }
        return (sessionID, last)
    }

    @Test("a client that resumes: every dispatch delivered, the missed ones replayed, nothing lost, ready 18 of 20 s")
    func resumingClientLosesNothing() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, acknowledged) = try await Self.identifyWithTwoUnacknowledged(client, on: simulator)
            try await simulator.advanceTime(by: .seconds(10))
            await client.drop()
            try await simulator.waitUntilDetached(sessionID)
            try await simulator.advanceTime(by: .seconds(2))

            let again = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            try await again.helloThenResume(sessionID: sessionID, sequence: acknowledged)
            let resumed = try await again.nextDispatch(named: "RESUMED")
            try await again.heartbeatUntilAck(try #require(resumed.sequence))
            try await simulator.advanceTime(by: .seconds(8))

            let report = try await simulator.chaosReport()
            #expect(report.identifies == 1 && report.resumes == 1 && report.sessions == 1)
            #expect(report.identifiesWhereResumePossible == 0)
            // READY, 2 GUILD_CREATE, 2 ECHORD_TEST, RESUMED.
            #expect(report.dispatchesProduced == 6)
            #expect(report.dispatchesWritten == 6)
            #expect(report.dispatchesReplayed == 2)
            #expect(report.dispatchesDelivered == 6)
            #expect(report.dispatchesInFlight == 0)
            #expect(report.lostAllowed == 0 && report.lostForbidden == 0)
            #expect(report.passed)
            let shard = try #require(report.shards.first)
            #expect(report.shards.count == 1)
            #expect(shard.readyMilliseconds == 18_000 && shard.windowMilliseconds == 20_000)
            #expect(shard.readyShare == 0.9)
        }
    }

    @Test("a client that identifies anew where it could resume: one needless IDENTIFY and its unacknowledged dispatches lost, forbidden")
    func identifyingClientIsCaught() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await Self.identifyWithTwoUnacknowledged(client, on: simulator)
            await client.drop()
            try await simulator.waitUntilDetached(sessionID)

            try await simulator.advanceTime(by: .seconds(6))  // the identify bucket's 5 s
            let again = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await again.identifyAndReadGuilds()
            let report = try await simulator.chaosReport()
            #expect(report.identifies == 2 && report.resumes == 0)
            #expect(report.identifiesWhereResumePossible == 1)
            #expect(report.lostForbidden == 2)
            #expect(report.lostByReason == ["identified anew while resumable": 2])
            let abandoned = try #require(report.sessionLedger.first { $0.ended != nil })
            #expect(abandoned.produced == 5 && abandoned.written == 5 && abandoned.acknowledged == 3)
            #expect(abandoned.lost == 2 && !abandoned.lossAllowed)
            #expect(report.sessionLedger.count == 2)
            #expect(!report.passed)
            #expect(report.text.contains("LOST FORBIDDEN 2"))
            #expect(report.text.contains("FAIL"))
        }
    }

    @Test("a session ended by op 9 false: its unacknowledged dispatches are lost as Discord's rules allow, and the IDENTIFY is needed")
    func invalidSessionLossIsAllowed() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await Self.identifyWithTwoUnacknowledged(client, on: simulator)
            try await simulator.inject(.invalidSession(resumable: false))
            #expect(try await client.nextPayload().op == 9)
            await client.drop()

            try await simulator.advanceTime(by: .seconds(6))  // the identify bucket's 5 s
            let again = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await again.identifyAndReadGuilds()
            let report = try await simulator.chaosReport()
            #expect(report.identifiesWhereResumePossible == 0)
            #expect(report.lostAllowed == 2 && report.lostForbidden == 0)
            #expect(report.lostByReason == ["op 9 false": 2])
            // The new session's READY and GUILD_CREATEs are not acknowledged yet: in flight, not lost.
            #expect(report.dispatchesInFlight == 3)
            #expect(report.passed)
        }
    }

    @Test("GET /control/chaos/report returns the report as JSON")
    func controlRouteReturnsJSON() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, last, _) = try await client.identifyAndReadGuilds(shard: (0, 1))
            try await client.heartbeatUntilAck(last)
            let response = try await httpGet(port: simulator.port, path: "/control/chaos/report")
            #expect(response.status == 200)
            let json = try #require(JSONValue.parsedJSON(response.body), "\(response.body)")
            #expect(json["passed"] == .bool(true))
            #expect(json["identifies"]?.integerValue == 1)
            #expect(json["identifies_where_resume_possible"]?.integerValue == 0)
            #expect(json["dispatches"]?["produced"]?.integerValue == 3)
            #expect(json["dispatches"]?["delivered"]?.integerValue == 3)
            #expect(json["dispatches"]?["lost_forbidden"]?.integerValue == 0)
            let shards = try #require(json["shards"]?.arrayElements)
            #expect(shards.count == 1)
            #expect(shards.first?["ready_share"] != nil)
            #expect(json["chaos"] == .null)
        }
    }

    @Test("chaos mode injects faults on the simulator's clock, the same ones for the same seed, and stops at its duration")
    func chaosScheduleIsSeededAndTimed() async throws {
        func run(seed: UInt64) async throws -> [ChaosFaultEvent] {
            try await withSimulator({
                $0.chaos = ChaosConfiguration(
                    faultsPerMinute: 30, seed: seed, faults: [.heartbeatRequest, .malformed, .zombie],
                    durationMilliseconds: 60_000)
            }) { simulator in
                let client = try await TestGatewayClient.connect(port: simulator.port)
                _ = try await client.identifyAndReadGuilds()
                // Time stands still: no fault yet.
                #expect(try await simulator.chaosReport().faultsInjected == 0)
                for _ in 0..<90 {
                    try await simulator.advanceTime(by: .seconds(1))
                    try await client.heartbeat(nil)  // keeps the connection up through zombie
                }
                let report = try await simulator.chaosReport()
                #expect(report.faultsInjected == report.recentFaults.count)
                #expect(report.shards.first?.faults == report.faultsInjected)
                return report.recentFaults
            }
        }
        let first = try await run(seed: 7)
        let second = try await run(seed: 7)
        // 30 a minute over 60 s: about 30; an exponential schedule gives well over 10.
        #expect(first.count >= 10)
        #expect(first.allSatisfy { $0.timeMilliseconds < 60_000 }, "a fault after the chaos duration")
        #expect(first.map(\.timeMilliseconds) == second.map(\.timeMilliseconds))
        #expect(first.map(\.kind) == second.map(\.kind))
        #expect(Set(first.map(\.kind)).count > 1)
    }
}

extension TestGatewayClient {
    /// Sends a heartbeat acknowledging `sequence` and reads up to its ACK.
    func heartbeatUntilAck(_ sequence: Int) async throws {
        try await heartbeat(sequence)
        while true {
            let incoming = try await next()
            if incoming.op == 11 { return }
            if case .payload = incoming { continue }
            throw TestClientError.unexpected("\(incoming) while waiting for a heartbeat ACK")
        }
    }
}
