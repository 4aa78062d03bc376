import EchordGateway
import EchordTestSupport
import EchordTesting
import EchordModels
import EchordSimulator
import Logging
import NIOConcurrencyHelpers
import Testing

/// The shard's structure seen from outside: the socket is read by a channel handler that stops
/// reading while the event buffer is full, timers are deadlines on the injected clock, and stop ends
/// every wait.
@Suite("Shard tasks and timers")
struct ShardTaskStructureTests {
    @Test("a full event buffer pauses reading; once the consumer reads, every event arrives once and in order", arguments: [GatewayCompression.none, .zlibStream])
    func backPressure(compression: GatewayCompression) async throws {
        try await Harness.with(compression: compression, shard: { $0.eventBufferCapacity = 2 }) { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            for n in 0..<40 {
                try await harness.simulator.dispatch(eventName: "TEST_EVENT", data: .object([("n", .int(Int64(n)))]))
            }
            var names: [String] = []
            var values: [Int] = []
            var sequences: [Int] = []
            var iterator = harness.shard.events.makeAsyncIterator()
            while values.count < 40, let dispatch = await iterator.next() {
                names.append(dispatch.name)
                if let sequence = dispatch.sequence { sequences.append(sequence) }
                if dispatch.name == "TEST_EVENT", let n = try dispatch.decode([String: Int].self)["n"] { values.append(n) }
            }
            #expect(Array(names.prefix(3)) == ["READY", "GUILD_CREATE", "GUILD_CREATE"])
            #expect(values == Array(0..<40))
            #expect(sequences == Array(1...43))
            #expect(harness.shard.status == .ready)
        }
    }

    @Test("the heartbeat is a deadline on the injected clock: nothing before it, one beat when it passes")
    func heartbeatOnInjectedClock() async throws {
        try await Harness.with(simulator: { $0.heartbeatIntervalMilliseconds = 10_000 }) { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            func heartbeats() async throws -> Int { try await harness.clientFrames().filter { $0.op == 1 }.count }
            // The first beat is interval × jitter away.
            let first = try await harness.deadline(within: .zero ... .seconds(10))
            harness.clock.advance(by: first - .milliseconds(1))
            try await Task.sleep(for: .milliseconds(100))  // room for a wrong beat to show up on the wire
            #expect(try await heartbeats() == 0)
            harness.clock.advance(by: .milliseconds(1))
            try await harness.eventually { try await heartbeats() == 1 }
            // The next one is a whole interval after the first was due.
            let next = try await harness.deadline(within: .seconds(9) ... .seconds(10))
            #expect(next == .seconds(10))
        }
    }

    @Test("stop ends the wait for an identify turn that never comes; the wait is cancelled, run() returns")
    func stopInterruptsIdentifyWait() async throws {
        var simConfig = SimulatorConfiguration()
        simConfig.timeSource = .manual
        let simulator = try await GatewaySimulator.start(configuration: simConfig, logger: quietLogger)
        let queue = NeverGrantingQueue()
        var configuration = ShardConfiguration(token: BotToken(Harness.token), intents: [.guilds])
        configuration.gatewayURL = simulator.gatewayURL
        let shard = Shard(configuration: configuration, identifyQueue: queue, clock: GatewayClock(ManualClock()), logger: quietLogger)
        let running = Task { try await shard.run() }
        try await eventuallyTrue { queue.waiting.withLockedValue { $0 } == 1 }
        shard.stop()
        try await running.value
        #expect(queue.cancelled.withLockedValue { $0 } == 1)
        #expect(shard.status == .stopped(error: nil))
        // No socket was opened: a queued shard holds none.
        #expect(try await simulator.log().allSatisfy { if case .connected = $0.kind { false } else { true } })
        try await simulator.shutdown()
    }

    @Test("stop while the send limiter paces a burst: the held commands fail with shardStopped, run() returns")
    func stopInterruptsSendPacing() async throws {
        try await Harness.with { harness, running in
            try await harness.waitForStatus { $0 == .ready }
            let results = NIOLockedValueBox<[Bool]>([])
            let shard = harness.shard
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<150 {
                    group.addTask {
                        let sent: Bool
                        do {
                            try await shard.send(.updatePresence(PresenceUpdate(
                                activities: [Activity(name: "burst \(n)", type: .playing)], status: .online)))
                            sent = true
                        } catch GatewayCommandError.shardStopped {
                            sent = false
                        }
                        results.withLockedValue { $0.append(sent) }
                    }
                }
                // 116 go at once (the window is 120 with IDENTIFY and 3 slots kept for heartbeats);
                // the rest wait for a slot: a deadline on the clock, which does not move here.
                try await harness.eventually { results.withLockedValue { $0.count } == 116 }
                try await Task.sleep(for: .milliseconds(50))
                #expect(results.withLockedValue { $0.count } == 116)
                shard.stop()
                try await group.waitForAll()
            }
            try await running.value
            let sent = results.withLockedValue { $0 }
            #expect(sent.count == 150)
            #expect(sent.filter { $0 }.count == 116)
            // A command's send completes when its bytes are written to the socket; the simulator
            // logs them when it reads them, which may come a little later.
            try await harness.eventually { try await harness.clientFrames().filter { $0.op == 3 }.count >= 116 }
            #expect(try await harness.clientFrames().filter { $0.op == 3 }.count == 116)
        }
    }
}

/// An identify queue that never grants a turn; counts the waits and their cancellations.
final class NeverGrantingQueue: IdentifyQueue {
    let waiting = NIOLockedValueBox(0)
    let cancelled = NIOLockedValueBox(0)

    func waitForTurn(shardID: Int) async throws -> IdentifyTurn {
        waiting.withLockedValue { $0 += 1 }
        do {
            try await Task.sleep(for: .seconds(3600))
        } catch {
            cancelled.withLockedValue { $0 += 1 }
            throw error
        }
        throw CancellationError()
    }

    func identifySent(_ turn: IdentifyTurn) async {}
    func turnAbandoned(_ turn: IdentifyTurn) async {}
}

private let quietLogger: Logger = {
    var logger = Logger(label: "echord.test")
    logger.logLevel = .critical
    return logger
}()

private func eventuallyTrue(timeout: Duration = .seconds(20), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + TestTime.bound(timeout)
    while ContinuousClock.now < deadline {
        if condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    #expect(condition(), "condition not reached within \(timeout)")
}
