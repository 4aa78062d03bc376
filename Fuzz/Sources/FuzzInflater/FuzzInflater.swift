import FuzzSupport
@_spi(EchordInternals) import EchordGateway

/// The zlib-stream inflater. The first byte picks how the rest is cut into WebSocket messages:
/// 0 = after every `00 00 FF FF` flush marker (as Discord sends them), otherwise chunks of
/// `byte` bytes. Every message goes through one inflater, as on one connection; after an error the
/// connection would be closed, so the input ends there.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInflater(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: start, count: count)
    let mode = Int(input[0])
    let bytes = Array(input[1...])
    let limit = 1 << 20
    let inflater = ZlibStreamInflater(maxMessageSize: limit)
    var messages: [ArraySlice<UInt8>] = []
    if mode == 0 {
        var from = 0
        var index = 0
        while index + 4 <= bytes.count {
            if bytes[index] == 0, bytes[index + 1] == 0, bytes[index + 2] == 0xFF, bytes[index + 3] == 0xFF {
                messages.append(bytes[from..<(index + 4)])
                from = index + 4
                index = from
            } else {
                index += 1
            }
        }
        if from < bytes.count { messages.append(bytes[from...]) }
    } else {
        var from = 0
        while from < bytes.count {
            let end = min(bytes.count, from + mode)
            messages.append(bytes[from..<end])
            from = end
        }
    }
    for message in messages {
        do {
            if let inflated = try inflater.feed(message) {
                precondition(inflated.count <= limit, "inflated message over maxMessageSize")
            }
        } catch {
            return 0
        }
    }
    return 0
}

/// The executable's entry point: libFuzzer's driver, with ``fuzzInflater(_:_:)`` as its callback.
@main
enum Main {
    static func main() {
        runFuzzer(fuzzInflater)
    }
}
