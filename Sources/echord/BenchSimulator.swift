import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The simulator of `echord bench`, in a child process (`echord simulate --port 0 …`), so the bench
/// process holds only the client.
struct SimulatorChild: Sendable {
    /// Why the child could not be started.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let pid: pid_t
    /// The read end of the child's standard output (kept open so the child never gets SIGPIPE).
    let output: Int32
    /// `http://127.0.0.1:PORT/api/v10`, from the child's banner.
    let apiBaseURL: String

    /// Spawns `executable` with `arguments` (standard error inherited) and reads its banner for the
    /// REST URL. Blocks until the banner arrives (a fraction of a second): call it before the shards start.
    static func start(executable: String, arguments: [String]) throws -> SimulatorChild {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw Failure(description: "pipe: errno \(errno)") }
        _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(pipeEnds[1])
        guard result == 0 else {
            close(pipeEnds[0])
            throw Failure(description: "cannot start the simulator (\(executable) simulate): posix_spawn error \(result)")
        }
        // The banner's "  REST     http://…/api/v10   (…)" line.
        var text = ""
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("  REST") }),
                let url = line.split(separator: " ").dropFirst().first
            {
                return SimulatorChild(pid: pid, output: pipeEnds[0], apiBaseURL: String(url))
            }
            let count = chunk.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            text += String(decoding: chunk[..<count], as: UTF8.self)
        }
        close(pipeEnds[0])
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        throw Failure(description: "the simulator ended before printing its URL")
    }

    /// Ends the child (SIGTERM, then reaped).
    func terminate() {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        close(output)
    }
}

/// POSTs to a plain-HTTP simulator's control API (`/control/…`), with a blocking socket: a bench
/// step, a few requests per run, never on a path the shards use.
struct SimulatorControl: Sendable {
    /// Why a control request failed.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let host: String
    let port: UInt16

    /// From `http://HOST:PORT/api/v10` (HOST an IPv4 address or localhost); nil for anything else.
    init?(apiBaseURL: String) {
        guard apiBaseURL.hasPrefix("http://") else { return nil }
        let authority = apiBaseURL.dropFirst("http://".count).prefix { $0 != "/" }
        let parts = authority.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { return nil }
        let host = parts[0] == "localhost" ? "127.0.0.1" : String(parts[0])
        var address = in_addr()
        guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
        self.host = host
        self.port = port
    }

    /// POSTs `body` to `path`; throws unless the answer is 200.
    func post(_ path: String, body: [UInt8]) throws {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect \(host):\(port): errno \(errno)") }
        let request = Array("POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw Failure(description: "write: errno \(errno)") }
            sent += count
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            answer += chunk[..<count]
            if Self.isComplete(answer) { break }  // the server may keep the connection open
        }
        let status = String(decoding: answer.prefix(64), as: UTF8.self)
        guard status.hasPrefix("HTTP/1.1 200") else {
            throw Failure(description: "POST \(path): \(status.split(separator: "\r\n").first ?? "no answer")")
        }
    }

    /// Whether `answer` holds the head and the whole body its Content-Length announces.
    static func isComplete(_ answer: [UInt8]) -> Bool {
        let text = String(decoding: answer, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
            let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
        else { return false }
        return text[end.upperBound...].utf8.count >= length
    }
}
