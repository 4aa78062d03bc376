import EchordGateway
import EchordTestSupport
import EchordTesting
import EchordModels
import EchordSimulator
import Logging
import Testing

/// Records every log line, with its metadata, as text.
struct RecordingLogHandler: LogHandler {
    let lines: LockedBox<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.mutate { $0.append("\(event.level) \(event.message) \(all)") }
    }
}

@Suite("The token never leaves the process", .timeLimit(.minutes(3 * TestTime.scale)))
struct TokenRedactionTests {
    @Test("trace logs of a whole session (IDENTIFY, op 7, RESUME, stop) never contain the token; errors and descriptions redact it")
    func traceLogs() async throws {
        let lines = LockedBox<[String]>([])
        let logger = Logger(label: "echord.test") { _ in RecordingLogHandler(lines: lines) }
        var simConfig = SimulatorConfiguration()
        simConfig.timeSource = .manual
        let simulator = try await GatewaySimulator.start(configuration: simConfig, logger: logger)
        var config = ShardConfiguration(token: BotToken(Harness.token), intents: [.guilds])
        config.gatewayURL = simulator.gatewayURL
        config.compression = .zlibStream
        let shard = Shard(configuration: config, identifyQueue: UnlimitedIdentifyQueue(), clock: GatewayClock(ManualClock()), logger: logger)
        let running = Task { try await shard.run() }
        for await status in shard.statusUpdates() where status == .ready { break }
        try await simulator.inject(.reconnect)
        try await simulator.waitForLogEntry { $0.eventName == "RESUMED" }
        shard.stop()
        try await running.value
        try await simulator.shutdown()

        let all = lines.value
        #expect(all.count > 10)
        #expect(all.contains { $0.contains("-> op=2") }, "the IDENTIFY is logged at trace")
        #expect(!all.contains { $0.contains(Harness.token) })
        #expect(!all.contains { $0.contains("fake.echord-integration") })
        #expect("\(config.token)" == "BotToken(<redacted>)")
        #expect(!String(reflecting: config).contains(Harness.token))
    }
}
