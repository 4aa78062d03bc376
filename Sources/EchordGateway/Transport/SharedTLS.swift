import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// The TLS client contexts of the process: one per distinct set of extra trust roots, shared by
/// every shard and every discovery request that uses that set. Each context holds the system trust
/// roots (about 960 KB), so it is never made per shard or per connection.
enum SharedTLS {
    /// The context with the system roots only.
    static let context: Result<NIOSSLContext, Error> = Result {
        try NIOSSLContext(configuration: .makeClientConfiguration())
    }

    /// Contexts with extra roots, keyed by the set of roots (order and repeats do not matter).
    private static let cache = NIOLockedValueBox<[Set<TLSTrustRoot>: NIOSSLContext]>([:])
    /// The most contexts with extra roots kept (each holds the system roots, about 960 KB).
    static let maxCachedContexts = 16

    /// The shared context that trusts the system roots and `roots`; made (and the files read) the
    /// first time a set is asked for.
    static func context(trusting roots: [TLSTrustRoot]) throws(TLSTrustRootError) -> NIOSSLContext {
        if roots.isEmpty {
            do { return try context.get() } catch { throw .contextFailed("\(error)") }
        }
        let key = Set(roots)
        // Made under the lock: shards that start together must share one context, not race to
        // make several.
        let made: Result<NIOSSLContext, TLSTrustRootError> = cache.withLockedValue { cache in
            if let cached = cache[key] { return .success(cached) }
            let result = Result { () throws(TLSTrustRootError) -> NIOSSLContext in
                var certificates: [NIOSSLCertificate] = []
                for root in roots { certificates += try root.load() }
                var configuration = TLSConfiguration.makeClientConfiguration()
                configuration.additionalTrustRoots = [.certificates(certificates)]
                do {
                    return try NIOSSLContext(configuration: configuration)
                } catch {
                    throw .contextFailed("\(error)")
                }
            }
            if case .success(let context) = result {
                // A bound for programs that make many distinct sets: connections keep the contexts
                // they use alive, so an evicted one is only made again when asked for again.
                if cache.count >= maxCachedContexts, let victim = cache.keys.first { cache[victim] = nil }
                cache[key] = context
            }
            return result
        }
        return try made.get()
    }

    /// The number of contexts with extra roots made so far (for tests).
    static var cachedContextCount: Int { cache.withLockedValue { $0.count } }
}
