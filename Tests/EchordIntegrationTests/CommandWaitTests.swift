import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

@Suite("Commands issued while the shard is not ready", .timeLimit(.minutes(3 * TestTime.scale)))
struct CommandWaitTests {
    @Test("a command sent while disconnected waits for RESUMED, then goes out on the new socket")
    func waitsForResume() async throws {
        try await Harness.with { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            try await harness.simulator.inject(.dropConnection)
            try await harness.waitForStatus { if case .disconnected = $0 { true } else { false } }
            let shard = harness.shard
            let sending = Task {
                try await shard.send(.requestGuildMembers(RequestGuildMembers(guildID: harness.simulator.guildIDs[0], query: "user", limit: 5)))
            }
            _ = try await harness.advance(by: .milliseconds(100)) { harness.shard.status == .ready }
            try await sending.value
            // `send` returns once the frame is written; the simulator may not have logged it yet.
            try await harness.eventually { try await harness.clientFrames().contains { $0.op == 8 } }
            let frames = try await harness.clientFrames()
            let commandIndex = try #require(frames.firstIndex { $0.op == 8 })
            let resumeIndex = try #require(frames.firstIndex { $0.op == 6 })
            #expect(commandIndex > resumeIndex)
            #expect(frames[commandIndex].connection == 2)
        }
    }

    @Test("a command waits at most commandWaitLimit, then fails with notConnected")
    func timesOut() async throws {
        try await Harness.with(shard: { $0.commandWaitLimit = .seconds(10) }) { harness, _ in
            try await harness.waitForStatus { $0 == .ready }
            // Every reconnect is refused from now on: the simulator is gone.
            try await harness.simulator.shutdown()
            try await harness.waitForStatus { if case .disconnected = $0 { true } else { false } }
            let shard = harness.shard
            let finished = LockedBox(false)
            let sending = Task {
                defer { finished.mutate { $0 = true } }
                try await shard.send(.updatePresence(PresenceUpdate(status: .dnd)))
            }
            try await Task.sleep(for: .milliseconds(50))
            harness.clock.advance(by: .seconds(9))
            try await Task.sleep(for: .milliseconds(50))
            #expect(finished.value == false, "the command gave up before its limit")
            // Bounded: if the command started waiting late, more clock time is needed, never a hang.
            _ = try await harness.advance(by: .seconds(1), maxSteps: 30) { finished.value }
            let result = await sending.result
            #expect(throws: GatewayCommandError.notConnected(waited: .seconds(10))) { try result.get() }
        }
    }
}
