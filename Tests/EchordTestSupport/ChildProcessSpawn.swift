#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Starting, reading and reaping child processes in tests, without Foundation's `Process`: that one
/// watches its pipes with `select(2)`, which breaks once descriptors pass 1,024, and a parallel test
/// run here keeps more than 1,200 open.
public enum ChildProcessSpawn {
    /// Why a child could not be started.
    public struct Failure: Error, CustomStringConvertible {
        /// What failed.
        public var description: String
    }

    /// A started child: its pid and the read ends of its standard output and error pipes.
    public struct Started: Sendable {
        /// The child's pid (reap it with ``waitForExit(_:)``).
        public var pid: pid_t
        /// The read end of the child's standard output.
        public var stdout: Int32
        /// The read end of the child's standard error.
        public var stderr: Int32
    }

    /// Spawns `path` with `arguments` and exactly `environment`, standard input from /dev/null and
    /// standard output and error into pipes.
    public static func spawn(_ path: String, arguments: [String], environment: [String: String]) throws -> Started {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw Failure(description: "pipe: errno \(errno)") }
        // Close-on-exec, so a child spawned meanwhile by another test does not hold our write ends
        // open (dup2 in this child clears the flag on 1 and 2). pipe2 is not in Glibc's module.
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
        close(outPipe[1])
        close(errPipe[1])
        guard result == 0 else {
            close(outPipe[0])
            close(errPipe[0])
            throw Failure(description: "posix_spawn \(path): \(result)")
        }
        return Started(pid: pid, stdout: outPipe[0], stderr: errPipe[0])
    }

    /// Reads `fd` to its end, handing each chunk to `body`, then closes it. Blocks: call it on a
    /// thread of its own, never on the Swift concurrency pool.
    public static func drain(_ fd: Int32, _ body: (ArraySlice<UInt8>) -> Void) {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            body(chunk[..<count])
        }
        close(fd)
    }

    /// Waits for `pid` to exit; returns its exit status, or 128 + the signal that ended it. Blocks:
    /// call it on a thread of its own.
    public static func waitForExit(_ pid: pid_t) -> Int32 {
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG, spelled out (the C macros are not imported).
        let signal = raw & 0x7F
        return signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
    }
}
