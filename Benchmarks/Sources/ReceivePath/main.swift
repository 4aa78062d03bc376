// The receive path of a shard, frames → envelopes → typed events: transport decompression (none,
// zlib-stream), the envelope scan (op, s, t, range of d) and Echord's typed decode, on the
// simulator's traffic mix (55 % MESSAGE_CREATE). Foundation's JSONDecoder on the same events is
// measured alongside, as the reference point.
//
//   swift run -c release --package-path Benchmarks ReceivePath [--messages N] [--rounds R]
import EchordGateway
import EchordModels
import EchordSimulator
import Foundation

var messageCount = 20_000
var rounds = 5
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--messages": messageCount = Int(arguments.next() ?? "") ?? messageCount
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    default: print("unknown argument \(argument)"); exit(2)
    }
}

@MainActor
func measure(_ label: String, bytes: Int, count: Int, _ body: () throws -> Int) rethrows {
    var best = Double.infinity
    var check = 0
    for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        check &+= try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        best = min(best, seconds)
    }
    let perSecond = Double(count) / best
    let megabytes = Double(bytes) / best / 1e6
    let padded = label + String(repeating: " ", count: max(0, 48 - label.count))
    print(padded + String(format: "%10.0f msg/s %8.1f MB/s %8.2f µs/msg  (best of %d, check %d)",
                          perSecond, megabytes, best / Double(count) * 1e6, rounds, check))
}

let plain = SimulatorTrafficSample.make(count: messageCount, compression: .none)
let zlib = SimulatorTrafficSample.make(count: messageCount, compression: .zlibStream)
let totalBytes = plain.messages.reduce(0) { $0 + $1.count }
let zlibBytes = zlib.frames.reduce(0) { $0 + $1.count }
let messageCreates = plain.messages.filter { $0.starts(with: Array(#"{"t":"MESSAGE_CREATE""#.utf8)) }
print("traffic: \(messageCount) dispatches, \(totalBytes / messageCount) B average, "
      + "\(messageCreates.count * 100 / messageCount) % MESSAGE_CREATE; zlib-stream \(zlibBytes) B on the wire "
      + String(format: "(%.1f×)", Double(totalBytes) / Double(zlibBytes)))

try measure("envelope scan (no compression)", bytes: totalBytes, count: messageCount) {
    var sum = 0
    for message in plain.frames {
        let envelope = try GatewayEnvelope(scanning: message)
        sum &+= envelope.sequence ?? 0
    }
    return sum
}

try measure("zlib-stream inflate + envelope scan", bytes: totalBytes, count: messageCount) {
    let inflater = ZlibStreamInflater()
    var sum = 0
    for frame in zlib.frames {
        if let message = try inflater.feed(frame) {
            sum &+= try GatewayEnvelope(scanning: message).sequence ?? 0
        }
    }
    return sum
}

try measure("zlib-stream inflate only", bytes: totalBytes, count: messageCount) {
    let inflater = ZlibStreamInflater()
    var sum = 0
    for frame in zlib.frames { sum &+= try inflater.feed(frame)?.count ?? 0 }
    return sum
}

try measure("zlib-stream inflate + scan + typed events", bytes: totalBytes, count: messageCount) {
    let inflater = ZlibStreamInflater()
    var sum = 0
    for frame in zlib.frames {
        if let message = try inflater.feed(frame) {
            let envelope = try GatewayEnvelope(scanning: message)
            let event = GatewayEvent(name: envelope.eventName ?? "", data: envelope.data)
            if case .failed(let failure) = event { fatalError("\(failure)") }
            sum &+= envelope.sequence ?? 0
        }
    }
    return sum
}

try measure("typed events only (Echord reader)", bytes: totalBytes, count: messageCount) {
    var sum = 0
    for message in plain.messages {
        let envelope = try GatewayEnvelope(scanning: message)
        if case .messageCreate(let created) = GatewayEvent(name: envelope.eventName ?? "", data: envelope.data) {
            sum &+= created.content.utf8.count
        }
    }
    return sum
}

let decoder = JSONDecoder()
try measure("reference: typed events with JSONDecoder", bytes: totalBytes, count: messageCount) {
    var sum = 0
    for message in plain.messages {
        let envelope = try GatewayEnvelope(scanning: message)
        let kind = GatewayEventKind(name: envelope.eventName ?? "")!
        if case .messageCreate(let created) = try GatewayEvent.decode(kind, from: Data(envelope.data), using: decoder) {
            sum &+= created.content.utf8.count
        }
    }
    return sum
}

let createBytes = messageCreates.reduce(0) { $0 + $1.count }
try measure("reference: JSONDecoder GatewayPayload<Message>", bytes: createBytes, count: messageCreates.count) {
    var sum = 0
    for message in messageCreates {
        let payload = try decoder.decode(GatewayPayload<Message>.self, from: Data(message))
        sum &+= payload.data?.content.count ?? 0
    }
    return sum
}
