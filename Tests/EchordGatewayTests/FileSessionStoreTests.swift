import EchordGateway
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A fresh directory under the system temporary directory, removed after `body`.
private func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("echord-sessions-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}

private func session(_ id: String, _ sequence: Int) -> GatewaySession {
    GatewaySession(sessionID: id, sequence: sequence, resumeGatewayURL: "wss://resume.example/\(id)")
}

/// The file's permission bits.
private func mode(of path: String) throws -> mode_t {
    var info = stat()
    guard stat(path, &info) == 0 else { throw POSIXError(.ENOENT) }
    return info.st_mode & 0o777
}

/// The top-level keys of the JSON file.
private func fileKeys(_ path: String) throws -> [String] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    return object.keys.sorted()
}

@Suite("FileSessionStore")
struct FileSessionStoreTests {
    @Test("a missing file means no sessions; a save survives a new store on the same path (a restart)")
    func roundTripAcrossRestart() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            let first = FileSessionStore(path: path)
            #expect(try await first.session(shardID: 0, shardCount: 1) == nil)
            #expect(!FileManager.default.fileExists(atPath: path), "reading must not create the file")

            try await first.save(session("abc", 42), shardID: 0, shardCount: 1)
            let restarted = FileSessionStore(path: path)
            #expect(try await restarted.session(shardID: 0, shardCount: 1) == session("abc", 42))

            // A later save replaces the earlier one.
            try await restarted.save(session("abc", 57), shardID: 0, shardCount: 1)
            #expect(try await FileSessionStore(path: path).session(shardID: 0, shardCount: 1) == session("abc", 57))
            #expect(try fileKeys(path) == ["0/1"])
        }
    }

    @Test("saving nil deletes only that shard's session")
    func deleteWithNil() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            let store = FileSessionStore(path: path)
            try await store.save(session("a", 1), shardID: 0, shardCount: 2)
            try await store.save(session("b", 2), shardID: 1, shardCount: 2)
            try await store.save(nil, shardID: 0, shardCount: 2)
            let restarted = FileSessionStore(path: path)
            #expect(try await restarted.session(shardID: 0, shardCount: 2) == nil)
            #expect(try await restarted.session(shardID: 1, shardCount: 2) == session("b", 2))
            #expect(try fileKeys(path) == ["1/2"])
            // Deleting what is not there is fine.
            try await restarted.save(nil, shardID: 7, shardCount: 8)
            #expect(try fileKeys(path) == ["1/2"])
        }
    }

    @Test("the same shard id under different shard counts is kept apart")
    func shardCountsKeptApart() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            let store = FileSessionStore(path: path)
            try await store.save(session("one", 10), shardID: 0, shardCount: 1)
            try await store.save(session("two", 20), shardID: 0, shardCount: 2)
            let restarted = FileSessionStore(path: path)
            #expect(try await restarted.session(shardID: 0, shardCount: 1) == session("one", 10))
            #expect(try await restarted.session(shardID: 0, shardCount: 2) == session("two", 20))
            #expect(try await restarted.session(shardID: 0, shardCount: 3) == nil)
            #expect(try await restarted.session(shardID: 1, shardCount: 2) == nil)
            #expect(try fileKeys(path) == ["0/1", "0/2"])
        }
    }

    @Test("shardsWithSession: the asked ids that have a session for that shard count, from the file and in memory")
    func shardsWithSession() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            let file = FileSessionStore(path: path)
            let memory = InMemorySessionStore()
            #expect(await file.shardsWithSession([0, 1, 2], shardCount: 10).isEmpty, "no file yet")
            for store in [file, memory] as [any SessionStore] {
                for (id, count) in [(1, 10), (3, 10), (10, 110), (4, 310), (2, 1)] {
                    try await store.save(session("s\(id)", 1), shardID: id, shardCount: count)
                }
                try await store.save(nil, shardID: 3, shardCount: 10)
                #expect(await store.shardsWithSession(Array(0..<20), shardCount: 10) == [1])
                #expect(await store.shardsWithSession([1, 2, 3, 4, 10], shardCount: 110) == [10])
                #expect(await store.shardsWithSession([0, 1], shardCount: 1).isEmpty)
            }
            // A corrupt file: none, as session(shardID:shardCount:) would throw for each.
            try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
            #expect(await FileSessionStore(path: path).shardsWithSession([1], shardCount: 10).isEmpty)
        }
    }

    @Test("saveAll writes a batch (saves, deletes, last entry wins) in one replacement of the file")
    func batchSave() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            let store = FileSessionStore(path: path)
            try await store.save(session("old", 1), shardID: 3, shardCount: 4)
            var before = stat()
            #expect(stat(path, &before) == 0)
            try await store.saveAll([
                (shardID: 0, shardCount: 4, session: session("s0", 100)),
                (shardID: 1, shardCount: 4, session: session("s1", 101)),
                (shardID: 2, shardCount: 4, session: session("first", 1)),
                (shardID: 2, shardCount: 4, session: session("s2", 102)),
                (shardID: 3, shardCount: 4, session: nil),
            ])
            var after = stat()
            #expect(stat(path, &after) == 0)
            #expect(before.st_ino != after.st_ino, "the file must be replaced (renamed over), not edited in place")
            let restarted = FileSessionStore(path: path)
            #expect(try await restarted.session(shardID: 0, shardCount: 4) == session("s0", 100))
            #expect(try await restarted.session(shardID: 1, shardCount: 4) == session("s1", 101))
            #expect(try await restarted.session(shardID: 2, shardCount: 4) == session("s2", 102))
            #expect(try await restarted.session(shardID: 3, shardCount: 4) == nil)
            #expect(try fileKeys(path) == ["0/4", "1/4", "2/4"])
        }
    }

    @Test("a corrupt file is a typed error, for reads and saves, and a failed save leaves it untouched",
          arguments: ["not json at all", "[1, 2, 3]", #"{"zero": {"session_id": "a", "seq": 1, "resume_gateway_url": "x"}}"#,
                      #"{"0/1": {"session_id": "a"}}"#, ""])
    func corruptFile(contents: String) async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            try contents.write(toFile: path, atomically: false, encoding: .utf8)
            let store = FileSessionStore(path: path)
            await #expect {
                _ = try await store.session(shardID: 0, shardCount: 1)
            } throws: { error in
                guard case .corrupt(let reported, _) = error as? FileSessionStoreError else { return false }
                return reported == path
            }
            await #expect {
                try await store.save(session("new", 1), shardID: 0, shardCount: 1)
            } throws: { error in
                if case .corrupt = error as? FileSessionStoreError { true } else { false }
            }
            #expect(try String(contentsOfFile: path, encoding: .utf8) == contents)
        }
    }

    @Test("a path that cannot be read is .unreadable; a missing directory is .writeFailed")
    func unreadableAndUnwritable() async throws {
        try await withTemporaryDirectory { directory in
            // A directory where the file should be: open succeeds, read fails with EISDIR.
            let path = directory + "/sessions.json"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            await #expect {
                _ = try await FileSessionStore(path: path).session(shardID: 0, shardCount: 1)
            } throws: { error in
                if case .unreadable(path, _) = error as? FileSessionStoreError { true } else { false }
            }
            let missing = directory + "/no-such-directory/sessions.json"
            await #expect {
                try await FileSessionStore(path: missing).save(session("a", 1), shardID: 0, shardCount: 1)
            } throws: { error in
                if case .writeFailed(missing, _) = error as? FileSessionStoreError { true } else { false }
            }
            #expect(!FileManager.default.fileExists(atPath: directory + "/no-such-directory"))
        }
    }

    @Test("the file has mode 0600, also when it replaces a file that had wider permissions")
    func fileMode() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            try await FileSessionStore(path: path).save(session("a", 1), shardID: 0, shardCount: 1)
            #expect(try mode(of: path) == 0o600)

            let other = directory + "/wide.json"
            try "{}".write(toFile: other, atomically: false, encoding: .utf8)
            #expect(chmod(other, 0o644) == 0)
            #expect(try mode(of: other) == 0o644)
            try await FileSessionStore(path: other).save(session("b", 2), shardID: 0, shardCount: 1)
            #expect(try mode(of: other) == 0o600)
        }
    }

    @Test("no temporary files are left behind, after successes and after a failed save")
    func noTemporaryFiles() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            let store = FileSessionStore(path: path)
            for index in 0..<10 {
                try await store.save(session("s\(index)", index), shardID: index % 3, shardCount: 3)
            }
            try await store.saveAll([(shardID: 0, shardCount: 3, session: nil), (shardID: 1, shardCount: 3, session: nil)])
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["sessions.json"])

            // A corrupt file makes the save fail before anything is written.
            try "garbage".write(toFile: path, atomically: false, encoding: .utf8)
            _ = try? await store.save(session("x", 1), shardID: 0, shardCount: 3)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["sessions.json"])
        }
    }

    @Test("50 concurrent saves (through two instances on the same path) all land")
    func concurrentSaves() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory + "/sessions.json"
            let stores = [FileSessionStore(path: path), FileSessionStore(path: path)]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for shard in 0..<50 {
                    group.addTask {
                        try await stores[shard % 2].save(session("s\(shard)", shard * 10), shardID: shard, shardCount: 50)
                    }
                }
                try await group.waitForAll()
            }
            let restarted = FileSessionStore(path: path)
            var found = 0
            for shard in 0..<50 where try await restarted.session(shardID: shard, shardCount: 50) == session("s\(shard)", shard * 10) {
                found += 1
            }
            #expect(found == 50)
            #expect(try fileKeys(path).count == 50)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["sessions.json"])
        }
    }
}
