import Foundation
import Testing

import EchordModels

/// Locates and loads the shared protocol fixtures (`shared/fixtures` next to the package).
///
/// Search order: the `ECHORD_FIXTURES` environment variable; `<package root>/../shared/fixtures`
/// (the package root is found from this file's `#filePath`); `/work/shared/fixtures`.
/// Tests that need fixtures use `.enabled(if: Fixtures.isAvailable, Fixtures.skipReason)`.
enum Fixtures {
    /// The fixtures folder, or nil when none of the candidates exists.
    static let directory: URL? = {
        let fileManager = FileManager.default
        var candidates: [URL] = []
        if let override = ProcessInfo.processInfo.environment["ECHORD_FIXTURES"], !override.isEmpty {
            candidates.append(URL(fileURLWithPath: override, isDirectory: true))
        }
        // <root>/Tests/EchordModelsTests/Fixtures.swift -> <root>
        let packageRoot = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(packageRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures"))
        candidates.append(URL(fileURLWithPath: "/work/shared/fixtures", isDirectory: true))
        return candidates.first { url in
            var isDirectory: ObjCBool = false
            return fileManager.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }()

    /// Whether the fixtures folder was found.
    static var isAvailable: Bool { directory != nil }

    /// Why fixture tests are skipped.
    static let skipReason: Comment =
        "fixtures folder not found: set ECHORD_FIXTURES or place shared/fixtures beside the package root"

    /// Folder of the Remora scrubbed real captures.
    static let remora = "real/Remora.Discord__scrubbed-captures_a6b1c22"
    /// Folder of the DiscordBM decompressed zlib-stream capture.
    static let discordBM = "real/DiscordBM__zlib-stream-capture"

    /// The raw bytes of a fixture, by path relative to the fixtures folder.
    static func data(_ path: String) throws -> Data {
        guard let directory else { throw FixtureError.missingDirectory }
        return try Data(contentsOf: directory.appendingPathComponent(path))
    }

    /// Decodes a fixture as `type`.
    static func decode<T: Decodable>(_ type: T.Type, _ path: String) throws -> T {
        try JSONDecoder().decode(type, from: data(path))
    }

    /// Decodes a fixture as a full envelope with `d` of type `T`.
    static func payload<T: Decodable & Sendable>(_ type: T.Type, _ path: String) throws -> GatewayPayload<T> {
        try JSONDecoder().decode(GatewayPayload<T>.self, from: data(path))
    }

    /// Parses a fixture into a structural JSON value (for order-insensitive comparisons).
    static func json(_ path: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data(path))
    }

    /// Errors of the fixture loader.
    enum FixtureError: Error {
        case missingDirectory
    }
}

/// JSON helpers shared by the tests.
enum JSONTesting {
    /// Encodes `value` with a plain `JSONEncoder`.
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        try JSONEncoder().encode(value)
    }

    /// Encodes `value` and parses the result into a structural ``JSONValue``.
    static func encodeToJSON<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: encode(value))
    }

    /// Encodes `value` and parses the result with `JSONSerialization` (independent of ``JSONValue``).
    static func encodeToObject<T: Encodable>(_ value: T) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: encode(value))
        return try #require(object as? [String: Any])
    }

    /// Encodes and decodes `value` again.
    static func roundTrip<T: Codable>(_ value: T) throws -> T {
        try JSONDecoder().decode(T.self, from: encode(value))
    }

    /// Decodes `T` from a JSON string literal.
    static func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }
}
