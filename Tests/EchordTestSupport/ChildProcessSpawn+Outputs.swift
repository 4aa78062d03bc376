import Foundation

extension ChildProcessSpawn {
    /// Reads both output pipes of `started` on threads of their own, handing each chunk to `onChunk`
    /// (`isStdout` tells which pipe), waits for the child to exit, then for both readers to finish,
    /// so every byte has been handed over before the exit status is returned. Blocks: call it on a
    /// thread of its own.
    public static func readOutputsUntilExit(
        _ started: Started, onChunk: @escaping @Sendable (_ chunk: ArraySlice<UInt8>, _ isStdout: Bool) -> Void
    ) -> Int32 {
        let readers = [(started.stdout, true), (started.stderr, false)].map { fd, isStdout in
            let done = DispatchSemaphore(value: 0)
            Thread {
                drain(fd) { onChunk($0, isStdout) }
                done.signal()
            }.start()
            return done
        }
        let status = waitForExit(started.pid)
        readers.forEach { $0.wait() }
        return status
    }
}
