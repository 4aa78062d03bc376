import Foundation

extension GatewayEventKind {
    private static let byName: [String: GatewayEventKind] = Dictionary(
        uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    /// The kind of the dispatch named `name` (`t`), nil for a name Echord does not know.
    public init?(name: String) {
        guard let kind = Self.byName[name] else { return nil }
        self = kind
    }
}

extension GatewayEvent {
    /// Decodes the `d` of a dispatch named `name` with the fast reader. Never throws: an unknown
    /// name gives ``unknown(name:data:)`` and a payload that does not decode gives
    /// ``failed(_:)``, both with the raw bytes.
    public init(name: String, data: UnsafeRawBufferPointer) {
        self.init(kind: GatewayEventKind(name: name), name: name, data: data)
    }

    /// ``init(name:data:)-(_,UnsafeRawBufferPointer)`` for a dispatch whose kind was looked up
    /// already (nil: a name Echord does not know).
    package init(kind: GatewayEventKind?, name: String, data: UnsafeRawBufferPointer) {
        guard let kind else {
            self = .unknown(name: name, data: Array(data))
            return
        }
        do {
            self = try .read(kind, from: data)
        } catch {
            self = .failed(GatewayEventDecodingFailure(name: name, error: error, data: Array(data)))
        }
    }

    /// Decodes the `d` of a dispatch named `name` with the fast reader; see ``init(name:data:)-(_,UnsafeRawBufferPointer)``.
    public init(name: String, data: some Collection<UInt8>) {
        if let event = data.withContiguousStorageIfAvailable({ GatewayEvent(name: name, data: UnsafeRawBufferPointer($0)) }) {
            self = event
        } else {
            self = Array(data).withUnsafeBytes { GatewayEvent(name: name, data: $0) }
        }
    }
}

/// The dispatches a consumer wants: the rest are never decoded (nor, in a shard, delivered).
///
/// Build one from kinds, or from the intents a bot identifies with (every kind those intents can
/// bring, plus the kinds no intent gates). Unknown dispatches (names Echord does not know) are
/// included unless ``includesUnknown`` is false.
public struct GatewayEventSubscription: Sendable, Hashable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0
    /// Whether dispatches with names Echord does not know are wanted.
    public var includesUnknown = true

    /// No kinds.
    public init() {}

    /// Exactly these kinds.
    public init(_ kinds: some Sequence<GatewayEventKind>, includesUnknown: Bool = true) {
        for kind in kinds { insert(kind) }
        self.includesUnknown = includesUnknown
    }

    /// Every kind.
    public static let all = GatewayEventSubscription(GatewayEventKind.allCases)

    /// The kinds that `intents` can bring, plus those no intent gates (READY, INTERACTION_CREATE, ...).
    public init(intents: GatewayIntents, includesUnknown: Bool = true) {
        for kind in GatewayEventKind.allCases {
            let inGuild = GatewayIntents.requiredIntents(forDispatch: kind.rawValue, inGuild: true)
            let direct = GatewayIntents.requiredIntents(forDispatch: kind.rawValue, inGuild: false)
            if inGuild == nil || !inGuild!.isDisjoint(with: intents) || (direct.map { !$0.isDisjoint(with: intents) } ?? false) {
                insert(kind)
            }
        }
        self.includesUnknown = includesUnknown
    }

    /// Adds a kind.
    public mutating func insert(_ kind: GatewayEventKind) {
        if kind.index < 64 { low |= 1 << UInt64(kind.index) } else { high |= 1 << UInt64(kind.index - 64) }
    }

    /// Removes a kind.
    public mutating func remove(_ kind: GatewayEventKind) {
        if kind.index < 64 { low &= ~(1 << UInt64(kind.index)) } else { high &= ~(1 << UInt64(kind.index - 64)) }
    }

    /// Whether a kind is wanted.
    public func contains(_ kind: GatewayEventKind) -> Bool {
        kind.index < 64 ? low & (1 << UInt64(kind.index)) != 0 : high & (1 << UInt64(kind.index - 64)) != 0
    }

    /// Whether the dispatch named `name` is wanted.
    public func contains(name: String) -> Bool {
        if self == .all { return true }
        guard let kind = GatewayEventKind(name: name) else { return includesUnknown }
        return contains(kind)
    }

    /// The kinds wanted.
    public var kinds: [GatewayEventKind] { GatewayEventKind.allCases.filter(contains) }
}
