import FuzzSupport
@_spi(Fuzzing) import EchordSimulator
import NIOCore
import NIOEmbedded

/// The simulator's per-connection pipeline on an `EmbeddedChannel` (no sockets): HTTP parsing,
/// the handshake checks, REST and control requests, the WebSocket upgrade and the gateway's
/// inbound frame handling (identify, heartbeat, resume, ... with their rate limits).
///
/// The first byte picks what the rest is:
/// - 0: the raw bytes a client sends on the TCP connection (HTTP requests, maybe an upgrade and
///   frames after it);
/// - 1: raw WebSocket frame bytes after a valid `/?v=10&encoding=json` handshake;
/// - 2: gateway messages after a valid handshake, separated by NUL bytes, each sent as one masked
///   text frame;
/// - 3: like 2, with `compress=zlib-stream` on the gateway URL (the server then deflates).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSimulator(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: start, count: count)
    let mode = input[0] % 4
    let rest = Array(input[1...])
    var wire: [UInt8] = []
    switch mode {
    case 0:
        wire = rest
    case 1:
        wire = handshake(query: "v=10&encoding=json") + rest
    default:
        wire = handshake(query: mode == 2 ? "v=10&encoding=json" : "v=10&encoding=json&compress=zlib-stream")
        for message in rest.split(separator: 0, omittingEmptySubsequences: false) {
            wire += maskedTextFrame(message)
        }
    }

    let channel = EmbeddedChannel()
    var configuration = SimulatorConfiguration()
    configuration.world.guildCount = 1
    configuration.world.membersPerGuild = 4
    let harness = SimulatorConnectionHarness(configuration: configuration, eventLoop: channel.embeddedEventLoop)
    do {
        try harness.configure(channel)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        fatalError("the simulator pipeline could not be set up: \(error)")
    }
    // Bytes arrive in a few reads, as from a socket, so that partial heads and frames are exercised.
    var from = 0
    let step = max(1, wire.count / 3)
    while from < wire.count, channel.isActive {
        let end = min(wire.count, from + step)
        var buffer = channel.allocator.buffer(capacity: end - from)
        buffer.writeBytes(wire[from..<end])
        do { try channel.writeInbound(buffer) } catch { break }
        while (try? channel.readOutbound(as: IOData.self)) != nil {}
        while (try? channel.readOutbound(as: ByteBuffer.self)) != nil {}
        from = end
    }
    channel.embeddedEventLoop.run()
    _ = try? channel.finish(acceptAlreadyClosed: true)
    return 0
}

private func handshake(query: String) -> [UInt8] {
    Array("""
        GET /?\(query) HTTP/1.1\r
        Host: 127.0.0.1\r
        Upgrade: websocket\r
        Connection: Upgrade\r
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
        Sec-WebSocket-Version: 13\r
        \r

        """.utf8)
}

/// One final, masked (as a client must) text frame (RFC 6455 5.2).
private func maskedTextFrame(_ payload: ArraySlice<UInt8>) -> [UInt8] {
    var frame: [UInt8] = [0x81]
    let count = payload.count
    if count < 126 {
        frame.append(0x80 | UInt8(count))
    } else if count <= 0xFFFF {
        frame.append(0x80 | 126)
        frame += [UInt8(count >> 8), UInt8(count & 0xFF)]
    } else {
        frame.append(0x80 | 127)
        for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((count >> shift) & 0xFF)) }
    }
    let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
    frame += mask
    for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index % 4]) }
    return frame
}

/// The executable's entry point: libFuzzer's driver, with ``fuzzSimulator(_:_:)`` as its callback.
@main
enum Main {
    static func main() {
        runFuzzer(fuzzSimulator)
    }
}
