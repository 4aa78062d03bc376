/// Why a ``FileSessionStore`` could not read or write its file.
public enum FileSessionStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file exists but could not be read (the system's reason).
    case unreadable(path: String, reason: String)
    /// The file was read but is not a JSON object of `"shardID/shardCount"` → session entries.
    case corrupt(path: String, reason: String)
    /// The new contents could not be written (the system's reason); the previous file is intact.
    case writeFailed(path: String, reason: String)

    /// A readable explanation, with the path.
    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read the session file \(path): \(reason)"
        case .corrupt(let path, let reason):
            "the session file \(path) is corrupt (\(reason)); fix or delete it to start new sessions"
        case .writeFailed(let path, let reason): "cannot write the session file \(path): \(reason)"
        }
    }
}
