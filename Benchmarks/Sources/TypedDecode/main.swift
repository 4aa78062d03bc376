// Typed decoding: Echord's generated JSONReader path against Foundation's JSONDecoder on the same
// bytes, in the same run. Prints messages/s, MB/s and heap allocations per decode.
//
//   swift run -c release --package-path Benchmarks TypedDecode [--seconds S]
import CMallocCounter
import EchordModels
import Foundation

let arguments = CommandLine.arguments
let seconds = arguments.firstIndex(of: "--seconds").flatMap { Double(arguments[$0 + 1]) } ?? 2

let benchmarksRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let fixtures = benchmarksRoot.deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("shared/fixtures")

/// The `d` of an envelope file, or the whole file when it has no envelope.
func payload(_ url: URL) throws -> [UInt8] {
    let bytes = try [UInt8](Data(contentsOf: url))
    return try bytes.withUnsafeBytes { buffer in
        try JSONReader.withReader(buffer) { reader in
            var cursor = try reader.beginObject()
            var data: [UInt8]?
            while let key = try reader.nextKey(&cursor) {
                if key == JSONReader.keyHash("d") { data = try reader.readRawValue() } else { try reader.skipValue() }
            }
            return data ?? bytes
        }
    }
}

struct Measurement {
    var perSecond: Double
    var megabytesPerSecond: Double
    var allocationsPerDecode: Double
}

@inline(never)
func measure(bytes: [UInt8], _ decode: ([UInt8]) throws -> Int) rethrows -> Measurement {
    var sink = 0
    for _ in 0..<50 { sink &+= try decode(bytes) }  // warm up
    let allocationsBefore = echord_allocation_count()
    sink &+= try decode(bytes)
    let allocations = Double(echord_allocation_count() - allocationsBefore)
    let clock = ContinuousClock()
    let start = clock.now
    var iterations = 0
    var batch = 1
    while true {
        for _ in 0..<batch { sink &+= try decode(bytes) }
        iterations += batch
        let elapsed = start.duration(to: clock.now)
        let elapsedSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if elapsedSeconds >= seconds {
            if sink == 42 { print("") }
            let perSecond = Double(iterations) / elapsedSeconds
            return Measurement(perSecond: perSecond, megabytesPerSecond: perSecond * Double(bytes.count) / 1e6,
                               allocationsPerDecode: allocations)
        }
        batch = min(batch * 2, 4096)
    }
}

func compare<T: JSONReadable & Decodable & Equatable>(_ label: String, _ type: T.Type, _ bytes: [UInt8]) throws {
    let fast = try T(jsonBytes: bytes)
    let reference = try JSONDecoder().decode(T.self, from: Data(bytes))
    precondition(fast == reference, "\(label): the two decoders disagree")
    let decoder = JSONDecoder()
    let echord = try measure(bytes: bytes) { bytes in
        let value = try T(jsonBytes: bytes)
        return withUnsafeBytes(of: value) { Int($0.count) }
    }
    let foundation = try measure(bytes: bytes) { bytes in
        let value = try decoder.decode(T.self, from: Data(bytes))
        return withUnsafeBytes(of: value) { Int($0.count) }
    }
    func row(_ name: String, _ m: Measurement) -> String {
        name.padding(toLength: 12, withPad: " ", startingAt: 0)
            + String(format: "%12.0f msg/s %9.1f MB/s %9.0f allocs/decode", m.perSecond, m.megabytesPerSecond, m.allocationsPerDecode)
    }
    print("\(label) (\(bytes.count) bytes)")
    print("  " + row("Echord", echord))
    print("  " + row("JSONDecoder", foundation))
    print(String(format: "  speed-up %.1f×, allocations %.1f× fewer", echord.perSecond / foundation.perSecond,
                 foundation.allocationsPerDecode / max(echord.allocationsPerDecode, 1)))
}

let message = try [UInt8](Data(contentsOf: benchmarksRoot.appendingPathComponent("Payloads/message_create.json")))
let guild = try payload(fixtures.appendingPathComponent(
    "real/Remora.Discord__scrubbed-captures_a6b1c22/guild_create_2021-09-23_3_large.json"))
let presence = try payload(fixtures.appendingPathComponent(
    "real/Remora.Discord__scrubbed-captures_a6b1c22/presence_update_2021-07-03.json"))

print("Typed decode, \(seconds) s per measurement, one core (sizes: GatewayEvent \(MemoryLayout<GatewayEvent>.size) B, Message \(MemoryLayout<Message>.size) B, GuildCreate \(MemoryLayout<GuildCreate>.size) B)")
try compare("MESSAGE_CREATE", Message.self, message)
try compare("GUILD_CREATE (large, real capture)", GuildCreate.self, guild)
try compare("PRESENCE_UPDATE (real capture)", Presence.self, presence)
