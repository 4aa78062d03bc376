import FuzzSupport
import EchordModels

private let kinds = GatewayEventKind.allCases

/// The typed decode of every `GatewayEvent` kind: the first byte picks the kind
/// (`GatewayEventKind.allCases[byte % count]`), the rest is the dispatch's `d`. The decoded value
/// is also described, which walks every field that was read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEventDecode(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let kind = kinds[Int(start[0]) % kinds.count]
    let data = UnsafeRawBufferPointer(start: start + 1, count: count - 1)
    let event = GatewayEvent(name: kind.rawValue, data: data)
    _ = String(describing: event).utf8.count
    return 0
}

/// The executable's entry point: libFuzzer's driver, with ``fuzzEventDecode(_:_:)`` as its callback.
@main
enum Main {
    static func main() {
        runFuzzer(fuzzEventDecode)
    }
}
