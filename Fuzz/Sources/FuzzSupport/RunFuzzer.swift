import CFuzzerDriver
import Glibc

/// A libFuzzer callback: one input (`start`, `count` bytes); returns 0.
public typealias FuzzTarget = @convention(c) (_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt

/// Runs libFuzzer's driver with the process's arguments and `target` as its callback, then exits
/// with the driver's status. Each harness's `@main` calls only this: SwiftPM renames an
/// executable's entry point, so libFuzzer's own `main` is never used.
public func runFuzzer(_ target: FuzzTarget) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, target))
}
