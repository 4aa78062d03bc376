#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EchordSimulator
import NIOConcurrencyHelpers

/// Where a command writes its results (one line at a time). Logs never go here.
protocol LineSink: Sendable {
    /// Writes `bytes` (one or more complete lines, each ending in `\n`).
    func write(_ bytes: [UInt8])
    /// Writes everything still buffered.
    func flush()
}

extension LineSink {
    func write(line: String) { write(Array((line + "\n").utf8)) }
}

/// Standard output through `write(2)`: one system call per batch, nothing held back in a stdio
/// buffer, so lines reach a pipe as soon as they are written and none is lost at exit.
final class FileDescriptorSink: LineSink {
    private let descriptor: Int32
    private let pending = NIOLockedValueBox<[UInt8]>([])

    init(descriptor: Int32 = 1) { self.descriptor = descriptor }

    func write(_ bytes: [UInt8]) {
        pending.withLockedValue { $0.append(contentsOf: bytes) }
    }

    func flush() {
        pending.withLockedValue { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = buffer.withUnsafeBytes { raw in
                    #if canImport(Glibc)
                    Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    #else
                    Darwin.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                    #endif
                }
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    break  // EPIPE and the like: the reader is gone; drop the output
                }
                offset += written
            }
            buffer.removeAll(keepingCapacity: buffer.count <= 1 << 16)
        }
    }
}

/// Collects lines in memory (tests).
final class MemorySink: LineSink {
    private let state = NIOLockedValueBox<(bytes: [UInt8], flushed: Int)>(([], 0))

    func write(_ bytes: [UInt8]) { state.withLockedValue { $0.bytes.append(contentsOf: bytes) } }
    func flush() { state.withLockedValue { $0.flushed = $0.bytes.count } }

    /// Everything written, as text.
    var text: String { state.withLockedValue { String(decoding: $0.bytes, as: UTF8.self) } }
    /// Every complete line written so far.
    var lines: [String] {
        let text = self.text
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if !text.hasSuffix("\n") || lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// Appends `text` to `out` as a JSON string literal (quotes included), escaped as the simulator
/// escapes its own JSON.
func appendJSONString(_ text: String, to out: inout [UInt8]) {
    out.append(contentsOf: SimulatorJSON.string(text).serialized())
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var out: [UInt8] = []
    appendJSONString(text, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Writes `message` and a newline to standard error at once.
func printError(_ message: String) {
    let bytes = Array((message + "\n").utf8)
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let written = write(2, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 { if errno == EINTR { continue } else { return } }
            offset += written
        }
    }
}
