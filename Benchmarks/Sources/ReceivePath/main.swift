// The receive path of a shard, measured in one run on one stream shaped like a busy bot's traffic:
// real gateway captures (../shared/fixtures/real) in the simulator's dispatch mix (55 %
// MESSAGE_CREATE), every one with its own ids, timestamps and message content of real-world length,
// about 1.2 KB per message, zlib-stream compressed (one deflate stream, a sync flush per message). Rounds interleave the measurements; each figure is the median over the rounds, in
// messages per second of process CPU time (run it pinned to one core: `taskset -c 1`).
//
//   (a) whole path: the frames as NIO hands them over (WebSocket frames of ByteBuffers, one socket
//       read at a time) through a shard connection's channel handler on an event loop (inflate,
//       envelope scan, sequence gate, subscription check, event buffer, the read's sequence report),
//       the shard's main loop taking the reports, and a consumer reading `dispatch.event`;
//   (b) Echord's inflater alone on the same ByteBuffers;
//   (c) a bare z_stream loop (inflate with Z_SYNC_FLUSH into one reused buffer) on the same ByteBuffers;
//   and, for reference, the typed decode alone (envelope scan + `GatewayEvent`) on the inflated messages.
//
//   swift build -c release --package-path Benchmarks --product ReceivePath
//   taskset -c 1 Benchmarks/.build/release/ReceivePath [--messages N] [--rounds R] [--fixtures DIR]
import CBareZlib
@_spi(EchordInternals) import EchordGateway
import EchordModels
import Foundation
import NIOCore

var messageCount = 20_000
var rounds = 11  // medians of 11: a round disturbed by other work on the machine moves none of them
var only: Int? = nil
var fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../../shared/fixtures")
    .standardizedFileURL.path
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--messages": messageCount = Int(arguments.next() ?? "") ?? messageCount
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    case "--fixtures": fixtures = arguments.next() ?? fixtures
    case "--only": only = Int(arguments.next() ?? "")  // one measurement (0: whole path), for a profiler
    default: print("unknown argument \(argument)"); exit(2)
    }
}

/// The CPU time this process has used, in seconds.
func cpuSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

// MARK: The stream

/// A small deterministic generator (64-bit LCG, high bits).
struct Random {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 17
    }
}

/// Message text of a realistic length (a long tail: most messages short, some long) and variety.
func realisticContent(_ random: inout Random) -> String {
    let syllables = ["ka", "lo", "mi", "re", "tan", "sho", "vel", "qu", "dor", "ein", "ph", "ys", "ng", "ar", "ox", "ul", "be", "zi"]
    let roll = random.next() % 100
    let length = roll < 50 ? 20 + Int(random.next() % 280) : roll < 85 ? 300 + Int(random.next() % 1200) : 1500 + Int(random.next() % 2000)
    var text = ""
    while text.utf8.count < length {
        let syllableCount = 1 + Int(random.next() % 4)
        for _ in 0..<syllableCount { text += syllables[Int(random.next() % UInt64(syllables.count))] }
        switch random.next() % 12 {
        case 0: text += ", "
        case 1: text += ". "
        case 2: text += " \(random.next() % 10_000) "
        case 3: text += " <@\(100_000_000_000_000_000 + random.next() % 900_000_000_000_000_000)> "
        default: text += " "
        }
    }
    return text
}

/// A JSON document without the whitespace between tokens.
func minified(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    var inString = false
    var escaped = false
    for byte in bytes {
        if inString {
            out.append(byte)
            if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
        } else if byte == UInt8(ascii: "\"") {
            inString = true
            out.append(byte)
        } else if byte != 0x20 && byte != 0x0A && byte != 0x0D && byte != 0x09 {
            out.append(byte)
        }
    }
    return out
}

/// Real gateway captures (`../shared/fixtures/real`: Remora.Discord's scrubbed captures and samples)
/// in a busy bot's mix, each one made unique: random snowflakes for the scrubbed ids, realistic
/// message content, varied timestamps, consecutive `s`.
func realisticMessages(count: Int, fixtures: String) -> [[UInt8]] {
    let captures = fixtures + "/real/Remora.Discord__scrubbed-captures_a6b1c22/"
    let samples = fixtures + "/real/Remora.Discord__synthetic-samples_2574696/Events/"
    let mix: [(weight: Int, files: [String])] = [
        (55, [captures + "message_create_2020-08-07_a.json", captures + "message_create_2020-08-07_b.json"]),
        (8, [captures + "message_update_2020-08-07.json"]),
        (3, [samples + "MESSAGE_DELETE/MESSAGE_DELETE.json"]),
        (14, [captures + "typing_start.json"]),
        (10, [captures + "presence_update_2021-07-03.json", captures + "presence_update_2021-07-18.json"]),
        (2, [samples + "GUILD_MEMBER_UPDATE/GUILD_MEMBER_UPDATE.json"]),
        (6, [samples + "MESSAGE_REACTION_ADD/MESSAGE_REACTION_ADD.json"]),
        (2, [samples + "MESSAGE_REACTION_REMOVE/MESSAGE_REACTION_REMOVE.json"]),
    ]
    // Each template: the event name and the minified `d`, cut where the scrubbed values go.
    let templates: [[(name: String, pieces: [[UInt8]], kinds: [UInt8])]] = mix.map { entry in
        entry.files.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { print("missing fixture \(path)"); exit(2) }
            let document = minified([UInt8](data))
            let name = String(decoding: document[document.firstRange(of: Array(#""t":""#.utf8))!.upperBound...].prefix { $0 != UInt8(ascii: "\"") }, as: UTF8.self)
            let dStart = document.firstRange(of: Array(#""d":"#.utf8))!.upperBound
            let d = Array(document[dStart..<(document.count - 1)])
            // Cut at every scrubbed id (I), timestamp (T) and content (C).
            let markers: [(UInt8, [UInt8])] = [
                (UInt8(ascii: "I"), Array("999999999999999999".utf8)), (UInt8(ascii: "T"), Array("1970-01-01T00:00:00.000000+00:00".utf8)),
                (UInt8(ascii: "C"), Array(#""content":"none""#.utf8)),
            ]
            var pieces: [[UInt8]] = [[]]
            var kinds: [UInt8] = []
            var index = 0
            scan: while index < d.count {
                for (kind, marker) in markers where d[index...].starts(with: marker) {
                    kinds.append(kind)
                    pieces.append([])
                    index += marker.count
                    continue scan
                }
                pieces[pieces.count - 1].append(d[index])
                index += 1
            }
            return (name, pieces, kinds)
        }
    }
    let total = mix.reduce(0) { $0 + $1.weight }
    var random = Random(state: 0x5EED)
    var messages: [[UInt8]] = []
    for sequence in 1...count {
        var point = Int(random.next() % UInt64(total))
        var group = 0
        while point >= mix[group].weight { point -= mix[group].weight; group += 1 }
        let template = templates[group][Int(random.next() % UInt64(templates[group].count))]
        var message = Array("{\"t\":\"\(template.name)\",\"s\":\(sequence),\"op\":0,\"d\":".utf8)
        for (index, piece) in template.pieces.enumerated() {
            message += piece
            guard index < template.kinds.count else { break }
            switch template.kinds[index] {
            case UInt8(ascii: "I"): message += Array(String(100_000_000_000_000_000 + random.next() % 1_200_000_000_000_000_000).utf8)
            case UInt8(ascii: "T"):
                let ms = random.next() % 1000
                message += Array("2026-11-\(10 + random.next() % 18)T\(10 + random.next() % 14):\(10 + random.next() % 50):\(10 + random.next() % 50).\(ms)000+00:00".utf8)
            default: message += Array("\"content\":\"\(realisticContent(&random))\"".utf8)
            }
        }
        message.append(UInt8(ascii: "}"))
        messages.append(message)
    }
    return messages
}

/// zlib-stream as Discord sends it: one deflate stream, each message ending in a sync flush.
func zlibStreamFrames(_ messages: [[UInt8]]) -> [[UInt8]] {
    // On the heap: zlib keeps the stream's address and refuses a moved copy.
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    precondition(bench_deflateInit2(stream, Z_DEFAULT_COMPRESSION, 15, 8) == Z_OK)
    defer { deflateEnd(stream); stream.deallocate() }
    return messages.map { message in
        var input = message
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, uLong(input.count))) + 64)
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.pointee.next_in = inBuffer.baseAddress
                stream.pointee.avail_in = uInt(inBuffer.count)
                stream.pointee.next_out = outBuffer.baseAddress
                stream.pointee.avail_out = uInt(outBuffer.count)
                precondition(deflate(stream, Z_SYNC_FLUSH) == Z_OK && stream.pointee.avail_in == 0)
                return outBuffer.count - Int(stream.pointee.avail_out)
            }
        }
        return Array(output[0..<produced])
    }
}

let messages = realisticMessages(count: messageCount, fixtures: fixtures)
let frames = zlibStreamFrames(messages)
let allocator = ByteBufferAllocator()
// The frames as NIO's WebSocket decoder hands them over, one socket read at a time (the frames of a
// read are slices of its buffer); (b) and (c) read the same buffers.
let reads = ReceivePathHarness.reads(of: frames.map { allocator.buffer(bytes: $0) })
let buffers = reads.flatMap { $0.map(\.data) }
let totalBytes = messages.reduce(0) { $0 + $1.count }
let wireBytes = frames.reduce(0) { $0 + $1.count }
let creates = messages.filter { $0.starts(with: Array(#"{"t":"MESSAGE_CREATE""#.utf8)) }.count
print("stream: \(messageCount) dispatches, \(totalBytes / messageCount) B average, \(creates * 100 / messageCount) % MESSAGE_CREATE; "
      + "zlib-stream \(wireBytes) B on the wire " + String(format: "(%.1f×)", Double(totalBytes) / Double(wireBytes)))

// MARK: The measurements

/// (a) The whole path as a shard runs it.
func wholePath() async -> Int {
    var configuration = ShardConfiguration(token: BotToken("benchmark-token-not-secret"), intents: .documented)
    configuration.compression = .zlibStream
    let harness = ReceivePathHarness(configuration: configuration)
    async let consumed: Int = {
        var sum = 0
        for await dispatch in harness.shard.events {
            switch dispatch.event {
            case .messageCreate(let message): sum &+= message.content.utf8.count
            case .failed(let failure): fatalError("\(failure.error) in \(failure.name)")
            default: sum &+= 1
            }
        }
        return sum
    }()
    await harness.run(reads: reads)
    return await consumed
}

/// (b) Echord's inflater alone.
func echordInflate() throws -> Int {
    let inflater = ZlibStreamInflater()
    var sum = 0
    for buffer in buffers { sum &+= try inflater.feed(buffer)?.count ?? 0 }
    return sum
}

/// (c) A bare z_stream loop: inflate every frame with Z_SYNC_FLUSH into one reused buffer.
func bareInflate() -> Int {
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    precondition(bench_inflateInit2(stream, 15) == Z_OK)
    defer { inflateEnd(stream); stream.deallocate() }
    let output = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 20)
    defer { output.deallocate() }
    var sum = 0
    for buffer in buffers {
        buffer.withUnsafeReadableBytes { input in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.pointee.avail_in = uInt(input.count)
            stream.pointee.next_out = output
            stream.pointee.avail_out = 1 << 20
            precondition(inflate(stream, Z_SYNC_FLUSH) == Z_OK && stream.pointee.avail_in == 0)
            sum &+= (1 << 20) - Int(stream.pointee.avail_out)
        }
    }
    return sum
}

/// The typed decode alone: envelope scan and `GatewayEvent` of each inflated message.
func typedDecode() throws -> Int {
    var sum = 0
    for message in messages {
        if case .messageCreate(let created) = try GatewayEnvelope(scanning: message).event {
            sum &+= created.content.utf8.count
        }
    }
    return sum
}

let labels = ["(a) whole path: ByteBuffer frames → dispatch.event", "(b) zlib inflate only (Echord's inflater)",
              "(c) bare z_stream loop (C calls)", "typed decode only (scan + GatewayEvent)"]
var seconds = [[Double]](repeating: [], count: labels.count)
var checks = [Int](repeating: 0, count: labels.count)
if let only {
    let start = cpuSeconds()
    for _ in 0..<rounds {
        switch only {
        case 0: _ = await wholePath()
        case 1: _ = try echordInflate()
        case 2: _ = bareInflate()
        default: _ = try typedDecode()
        }
    }
    print(String(format: "%@: %.2f µs/msg", labels[only], (cpuSeconds() - start) / Double(rounds * messageCount) * 1e6))
    exit(0)
}
for _ in 0..<rounds {
    var start = cpuSeconds()
    checks[0] = await wholePath()
    seconds[0].append(cpuSeconds() - start)
    start = cpuSeconds()
    checks[1] = try echordInflate()
    seconds[1].append(cpuSeconds() - start)
    start = cpuSeconds()
    checks[2] = bareInflate()
    seconds[2].append(cpuSeconds() - start)
    start = cpuSeconds()
    checks[3] = try typedDecode()
    seconds[3].append(cpuSeconds() - start)
}
precondition(checks[1] == totalBytes && checks[2] == totalBytes, "an inflater lost bytes")

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
var rates: [Double] = []
for (index, label) in labels.enumerated() {
    let best = median(seconds[index])
    let rate = Double(messageCount) / best
    rates.append(rate)
    let padded = label + String(repeating: " ", count: max(0, 54 - label.count))
    print(padded + String(format: "%9.0f msg/s %7.1f MB/s %6.2f µs/msg", rate, Double(totalBytes) / best / 1e6, best / Double(messageCount) * 1e6))
}
print(String(format: "whole path / inflate only: %.0f %%; Echord's inflate / bare z_stream: %.1f %% (medians of %d interleaved rounds, CPU time)",
             rates[0] / rates[1] * 100, rates[1] / rates[2] * 100, rounds))
