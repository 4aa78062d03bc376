import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@testable import echord

/// `echord simulate --chaos` and the demo's chaos: the flags, and a short real-time run judged by
/// the simulator's report.
@Suite("echord chaos", .timeLimit(.minutes(3 * TestTime.scale)))
struct ChaosCommandTests {
    @Test("simulate: --chaos, --seed, --chaos-faults (comma-separated, repeatable), --chaos-duration and --format parse")
    func simulateFlagsParse() throws {
        let command = try Simulate.parse([
            "--chaos", "20", "--seed", "7", "--chaos-faults", "drop,freeze", "--chaos-faults", "zombie",
            "--chaos-duration", "300", "--format", "json",
        ])
        let configuration = command.makeConfiguration()
        #expect(configuration.chaos == ChaosConfiguration(
            faultsPerMinute: 20, seed: 7, faults: [.drop, .freeze, .zombie], durationMilliseconds: 300_000))
        #expect(configuration.traffic.eventsPerSecond == 20, "chaos without --traffic sends traffic")
        #expect(command.format == .json)
        #expect(try Simulate.parse([]).makeConfiguration().chaos == nil)
        #expect(try Simulate.parse(["--chaos", "5", "--traffic", "0"]).makeConfiguration().traffic.eventsPerSecond == 0)
        #expect(throws: (any Error).self) { try Simulate.parse(["--chaos", "5", "--chaos-faults", "meteor"]) }
        #expect(throws: (any Error).self) { try Simulate.parse(["--chaos", "-1"]) }
        #expect(throws: (any Error).self) { try Simulate.parse(["--chaos", "5", "--chaos-duration", "0"]) }
        #expect(throws: (any Error).self) { try Simulate.parse(["--format", "yaml"]) }
    }

    @Test("demo: --chaos and --seed parse; chaos is on by default")
    func demoFlagsParse() throws {
        #expect(try Demo.parse([]).chaos > 0)
        let demo = try Demo.parse(["--chaos", "0", "--seed", "9"])
        #expect(demo.chaos == 0 && demo.seed == 9)
        #expect(throws: (any Error).self) { try Demo.parse(["--chaos", "-2"]) }
    }

    @Test("echord simulate --chaos 60 --format json with listen against it: faults injected, a JSON report that passes, exit 0")
    func simulateChaosWithListen() async throws {
        let child = try ChildProcess(arguments: [
            "simulate", "--port", "0", "--shards", "2", "--max-concurrency", "2", "--identify-bucket", "0",
            "--heartbeat-interval", "2000", "--chaos", "60", "--seed", "7", "--duration", "600", "--format", "json",
            "--log-level", "warning",
        ])
        var base = ""
        try await eventually("the banner") {
            guard let line = child.stdout.split(separator: "\n").first(where: { $0.hasPrefix("echord simulator on ") }) else {
                return false
            }
            base = String(line.dropFirst("echord simulator on ".count))
            return true
        }
        let settings = ListenSettings(
            token: BotToken(testToken), apiBaseURL: base + "/api/v10", shardCount: .automatic, compression: .zlibStream,
            intents: [.guilds, .guildMessages], events: nil, format: .json)
        let stop = StopSwitch()
        let sink = MemorySink()
        let running = ListenTests.start(settings, sink: sink, stop: stop)
        // Events, not the wall clock, decide when the run has seen enough: both shards READY and at
        // least two recoveries (RESUMED, or READY again after a lost session) printed by listen.
        // Then SIGTERM makes the simulator print its report (a loaded machine only makes this slower).
        func count(_ name: String, shard: Int? = nil) throws -> Int {
            try ListenTests.parsed(sink).filter { $0.t == name && (shard == nil || $0.shard == shard) }.count
        }
        // Recoveries alone do not prove a fault (a slow machine can miss a heartbeat ACK): the
        // simulator's own report must count one too.
        let reportURL = try #require(URL(string: base + "/control/chaos/report"))
        func faultsInjected() async throws -> Int {
            let (data, _) = try await URLSession.shared.data(from: reportURL)
            return JSONValue.parse(String(decoding: data, as: UTF8.self))?["faults"]?.intValue ?? 0
        }
        try await eventually("both shards READY, a fault and two recoveries; listen printed:\n\(sink.text.suffix(2000))", timeout: .seconds(300)) {
            guard try count("READY", shard: 0) >= 1, try count("READY", shard: 1) >= 1,
                try count("READY") + count("RESUMED") >= 4
            else { return false }
            return try await faultsInjected() >= 1
        }
        child.terminate()
        let status = try await child.waitForExit()
        stop.raise()
        _ = try? await running.value
        #expect(status == 0, "stderr: \(child.stderr)\nstdout: \(child.stdout)")
        let line = try #require(child.stdout.split(separator: "\n").last { $0.hasPrefix("{") }, "no JSON report: \(child.stdout)")
        let report = try #require(JSONValue.parse(String(line)), "\(line)")
        #expect(report["passed"] == .bool(true), "\(line)")
        #expect((report["faults"]?.intValue ?? 0) > 0, "\(line)")
        #expect(report["identifies_where_resume_possible"]?.intValue == 0)
        #expect(report["dispatches"]?["lost_forbidden"]?.intValue == 0)
        #expect(report["shards"]?.arrayCount == 2)
    }

    @Test("echord --chaos 60 --duration 20: faults and recoveries in the live view, nothing lost, exit 0")
    func demoWithChaos() async throws {
        let child = try ChildProcess(arguments: ["--shards", "2", "--rate", "50", "--chaos", "60", "--duration", "20"])
        let status = try await child.waitForExit()
        #expect(status == 0, "stderr: \(child.stderr)\nstdout: \(child.stdout)")
        #expect(child.stdout.contains("2 of 2 shards reached ready"))
        #expect(child.stdout.contains("0 lost that they forbid"))
        let recovered = ["resumed in", "new session in", "connection kept"]
        #expect(recovered.contains { child.stdout.contains($0) }, "no recovery in the live view: \(child.stdout)")
    }
}

extension JSONValue {
    /// Parses `text` as JSON, or nil.
    static func parse(_ text: String) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) }
    var intValue: Int? { if case .number(let n) = self { Int(exactly: n) } else { nil } }
    var arrayCount: Int? { if case .array(let items) = self { items.count } else { nil } }
}
