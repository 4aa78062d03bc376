import Foundation
import Testing

import EchordModels

/// Every JSON file under `shared/fixtures`, decoded by the fast reader and by `JSONDecoder`, compared.
@Suite("Fixture decoding", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
struct FixtureDecodingTests {
    @Test("every dispatch fixture decodes, the same with the fast reader and JSONDecoder, and round-trips")
    func dispatchFixtures() throws {
        var checked = 0
        for path in try FixtureCatalog.jsonFiles() {
            guard let envelope = try FixtureCatalog.envelope(path), envelope.opcode == 0, let name = envelope.name else { continue }
            let expectedFailure = FixtureCatalog.invalidDispatches[path]
            let fast = GatewayEvent(name: name, data: envelope.data)
            guard let kind = GatewayEventKind(name: name) else {
                #expect(fast == .unknown(name: name, data: envelope.data), "\(path)")
                checked += 1
                continue
            }
            if let expectedFailure {
                guard case .failed(let failure) = fast else {
                    Issue.record("\(path) was expected to fail with \(expectedFailure) but decoded")
                    continue
                }
                #expect("\(failure.error)" == expectedFailure, "\(path)")
                #expect(throws: (any Error).self, "\(path): JSONDecoder must reject it too") {
                    try GatewayEvent.decode(kind, from: Data(envelope.data), using: JSONDecoder())
                }
                checked += 1
                continue
            }
            if case .failed(let failure) = fast {
                Issue.record("\(path): \(failure.error)")
                continue
            }
            let reference = try GatewayEvent.decode(kind, from: Data(envelope.data), using: JSONDecoder())
            #expect(fast == reference, "\(path): fast and JSONDecoder differ")
            #expect(fast.kind == kind)
            let reencoded = try FixtureCatalog.encodePayload(of: fast)
            #expect(GatewayEvent(name: name, data: reencoded) == fast, "\(path): re-encoded payload differs")
            checked += 1
        }
        #expect(checked >= 150, "dispatch fixtures checked: \(checked)")
    }

    @Test("every object and d-only fixture decodes as its type, the same both ways")
    func objectFixtures() throws {
        for (path, read) in FixtureCatalog.objects {
            let bytes = try [UInt8](Fixtures.data(path))
            do {
                let (fast, reference) = try read(bytes)
                #expect(fast == reference, "\(path): fast and JSONDecoder differ")
                #expect(FixtureCatalog.invalidObjects[path] == nil, "\(path) was expected to fail")
            } catch let error as JSONDecodingError {
                #expect(FixtureCatalog.invalidObjects[path] == "\(error)", "\(path): \(error)")
            } catch {
                Issue.record("\(path): the fast reader succeeded, JSONDecoder failed: \(error)")
            }
        }
        let covered = Set(FixtureCatalog.objects.keys)
        for path in try FixtureCatalog.jsonFiles() where try FixtureCatalog.envelope(path) == nil {
            #expect(covered.contains(path) || FixtureCatalog.notPayloads[path] != nil, "\(path) is not covered")
        }
    }

    @Test("every command and non-dispatch fixture decodes as its opcode's type")
    func commandFixtures() throws {
        var checked = 0
        for path in try FixtureCatalog.jsonFiles() {
            guard let envelope = try FixtureCatalog.envelope(path), envelope.opcode != 0 else { continue }
            let data = Data(envelope.data)
            let decoder = JSONDecoder()
            switch GatewayOpcode(rawValue: envelope.opcode) {
            case .heartbeat: _ = try decoder.decode(Int?.self, from: data)
            case .identify: _ = try decoder.decode(Identify.self, from: data)
            case .presenceUpdate: _ = try decoder.decode(PresenceUpdate.self, from: data)
            case .voiceStateUpdate: _ = try decoder.decode(VoiceStateUpdate.self, from: data)
            case .resume: _ = try decoder.decode(Resume.self, from: data)
            case .reconnect: #expect(envelope.data == Array("null".utf8) || envelope.data.isEmpty, "\(path)")
            case .requestGuildMembers: _ = try decoder.decode(RequestGuildMembers.self, from: data)
            case .invalidSession: _ = try decoder.decode(Bool.self, from: data)
            case .hello: _ = try decoder.decode(Hello.self, from: data)
            case .heartbeatAck: break
            case .requestSoundboardSounds: _ = try decoder.decode(RequestSoundboardSounds.self, from: data)
            case .requestChannelInfo: _ = try decoder.decode(RequestChannelInfo.self, from: data)
            default: Issue.record("\(path): opcode \(envelope.opcode) has no type")
            }
            checked += 1
        }
        #expect(checked >= 30, "non-dispatch fixtures checked: \(checked)")
    }
}

/// The fixtures that are not JSON documents, each refused with the reader's precise error.
@Suite("Fixture files that are not JSON", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
struct NonJSONFixtureTests {
    @Test("the docs' placeholders, a JavaScript literal and commented JSON are refused with a typed error", arguments: [
        // The changelog's RATE_LIMITED example has a missing comma and `...` placeholders.
        ("rate_limited.changelog-example.txt", JSONDecodingError(.typeMismatch(expected: "',' or '}'"), offset: 14)),
        // The ID-serialization example is a JavaScript literal with // comments and unquoted keys.
        ("id_serialization_request_members_example.txt", JSONDecodingError(.invalidJSON, offset: 0)),
        // identify_full.jsonc is identify_full.json with // comments (that one decodes as Identify).
        ("identify_full.jsonc", JSONDecodingError(.typeMismatch(expected: "a key"), offset: 405)),
    ])
    func refused(path: String, expected: JSONDecodingError) throws {
        let bytes = try [UInt8](Fixtures.data(path))
        #expect(throws: expected) { try JSONValue(jsonBytes: bytes) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) }
    }
}
