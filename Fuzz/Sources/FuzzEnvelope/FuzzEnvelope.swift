import FuzzSupport
@_spi(EchordInternals) import EchordGateway
import EchordModels

/// One gateway message as the shard reads it: the envelope scan (`op`, `s`, `t`, where `d` lies),
/// then the typed decode of a dispatch's `d` by its `t` (from the exact range, and as
/// `GatewayDispatch.event` does it, from where the scan stopped), and the payload validator on the
/// whole message.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEnvelope(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let start, count > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))
    _ = PayloadValidator.validate(gatewayPayload: bytes)
    guard let envelope = try? GatewayEnvelope(scanning: bytes) else { return 0 }
    if let range = envelope.dataRange {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "d range outside the message")
    }
    if let name = envelope.eventName {
        _ = GatewayEvent(name: name, data: envelope.data)
        // The shard's way: from where the scan stopped (`d` after `op`, `s` and `t`), exact range on trailing members.
        _ = envelope.event
    }
    return 0
}

/// The executable's entry point: libFuzzer's driver, with ``fuzzEnvelope(_:_:)`` as its callback.
@main
enum Main {
    static func main() {
        runFuzzer(fuzzEnvelope)
    }
}
