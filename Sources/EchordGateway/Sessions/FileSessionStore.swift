import Foundation
import NIOConcurrencyHelpers
import NIOPosix
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Sessions kept in one JSON file, so that a restarted process resumes instead of identifying.
///
/// The file is a JSON object keyed `"shardID/shardCount"` (for example `"3/16"`), each value a
/// ``GatewaySession``. A missing file means no sessions. Every write replaces the file atomically
/// (a temporary file in the same directory is written, fsynced and renamed over it), so a crash
/// leaves either the old or the new contents. The file is created with mode `0600`: session ids
/// let whoever holds the token resume the bot's sessions.
///
/// Access is serialized per path within the process (all instances on the same path share one
/// lock), and the file I/O runs on NIO's blocking-I/O thread pool, not on the caller's executor.
/// Several *processes* must not share one file.
public final class FileSessionStore: SessionStore {
    /// The file's path.
    public let path: String
    private let lock: NIOLock

    /// One lock per standardized path, shared by every instance in the process.
    private static let locks = NIOLockedValueBox<[String: NIOLock]>([:])

    /// A store backed by the file at `path`. Nothing is read or created until first use; the
    /// directory must exist by then.
    public init(path: String) {
        self.path = path
        let key = URL(fileURLWithPath: path).standardizedFileURL.path
        self.lock = Self.locks.withLockedValue { locks in
            if let existing = locks[key] { return existing }
            let lock = NIOLock()
            locks[key] = lock
            return lock
        }
    }

    /// The session saved for shard `shardID` of `shardCount`, if any.
    ///
    /// - Throws: ``FileSessionStoreError`` when the file cannot be read or is corrupt.
    public func session(shardID: Int, shardCount: Int) async throws -> GatewaySession? {
        try await locked { try $0.read()[Self.key(shardID, shardCount)] }
    }

    /// The ids among `shardIDs` with a session for `shardCount`, from one read of the file (none
    /// when it cannot be read or is corrupt, as with ``session(shardID:shardCount:)`` per id).
    public func shardsWithSession(_ shardIDs: [Int], shardCount: Int) async -> Set<Int> {
        guard let stored = try? await locked({ try $0.read() }), !stored.isEmpty else { return [] }
        let suffix = "/\(shardCount)"
        let ids = stored.keys.compactMap { key in key.hasSuffix(suffix) ? Int(key.dropLast(suffix.count)) : nil }
        return ids.isEmpty ? [] : Set(ids).intersection(shardIDs)
    }

    /// Saves (or, with nil, deletes) the session of shard `shardID` of `shardCount`, rewriting the
    /// file atomically.
    ///
    /// - Throws: ``FileSessionStoreError`` when the existing file is unreadable or corrupt (it is
    ///   left alone), or the new one cannot be written.
    public func save(_ session: GatewaySession?, shardID: Int, shardCount: Int) async throws {
        try await saveAll([(shardID: shardID, shardCount: shardCount, session: session)])
    }

    /// Saves (nil deletes) several shards' sessions with one atomic file write. When a shard
    /// appears more than once, its last entry wins.
    ///
    /// - Throws: ``FileSessionStoreError`` as ``save(_:shardID:shardCount:)``.
    public func saveAll(_ sessions: [(shardID: Int, shardCount: Int, session: GatewaySession?)]) async throws {
        let batch = sessions.map { (key: Self.key($0.shardID, $0.shardCount), session: $0.session) }
        try await locked { file in
            var stored = try file.read()
            for entry in batch { stored[entry.key] = entry.session }
            try file.write(stored)
        }
    }

    static func key(_ shardID: Int, _ shardCount: Int) -> String { "\(shardID)/\(shardCount)" }

    /// Runs `body` on the blocking-I/O pool while holding the path's lock.
    private func locked<T: Sendable>(_ body: @escaping @Sendable (SessionFile) throws -> T) async throws -> T {
        let file = SessionFile(path: path)
        let lock = self.lock
        return try await NIOThreadPool.singleton.runIfActive {
            try lock.withLock { try body(file) }
        }
    }
}

/// The file operations, run with the store's lock held.
private struct SessionFile: Sendable {
    let path: String

    /// The stored sessions; empty when the file does not exist.
    func read() throws -> [String: GatewaySession] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return [:] }
            throw FileSessionStoreError.unreadable(path: path, reason: Self.describe(code))
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw FileSessionStoreError.unreadable(path: path, reason: Self.describe(code))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        let sessions: [String: GatewaySession]
        do {
            sessions = try JSONDecoder().decode([String: GatewaySession].self, from: Data(bytes))
        } catch {
            let reason = (error as? DecodingError).map(Self.describe) ?? "\(error)"
            throw FileSessionStoreError.corrupt(path: path, reason: reason)
        }
        for key in sessions.keys where !Self.isValidKey(key) {
            throw FileSessionStoreError.corrupt(path: path, reason: "\"\(key)\" is not a \"shardID/shardCount\" key")
        }
        return sessions
    }

    /// Replaces the file with `sessions`: temporary file (0600) → write → fsync → rename → fsync
    /// of the directory. The temporary file is removed on failure.
    func write(_ sessions: [String: GatewaySession]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(sessions)
        } catch {
            throw FileSessionStoreError.writeFailed(path: path, reason: "encoding failed: \(error)")
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(errno, "creating a temporary file in \(directory)") }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            defer { close(fd) }
            // The creation mode is filtered by the umask; make it exactly 0600.
            guard fchmod(fd, 0o600) == 0 else { throw failure(errno, "fchmod") }
            try data.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = systemWrite(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 {
                        let code = errno
                        if code == EINTR { continue }
                        throw failure(code, "write")
                    }
                    offset += written
                }
            }
            guard fsync(fd) == 0 else { throw failure(errno, "fsync") }
        }
        guard rename(temporary, path) == 0 else { throw failure(errno, "rename") }
        renamed = true
        // Make the rename itself durable; a failure here does not undo the (complete) write.
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    private func failure(_ code: Int32, _ step: String) -> FileSessionStoreError {
        .writeFailed(path: path, reason: "\(step): \(Self.describe(code))")
    }

    static func isValidKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let id = Int(parts[0]), let count = Int(parts[1]) else { return false }
        return id >= 0 && count >= 1
    }

    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) + " (errno \(code))" }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context): "not valid JSON or an unexpected value at \(location(context))"
        case .keyNotFound(let key, let context): "missing \"\(key.stringValue)\" at \(location(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context): "unexpected value at \(location(context))"
        @unknown default: "\(error)"
        }
    }

    private static func location(_ context: DecodingError.Context) -> String {
        context.codingPath.isEmpty ? "the top level" : context.codingPath.map(\.stringValue).joined(separator: ".")
    }
}

// `read`/`write` are shadowed by the methods above inside `SessionFile`; call the C functions by
// another name.
@inline(__always)
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

@inline(__always)
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
