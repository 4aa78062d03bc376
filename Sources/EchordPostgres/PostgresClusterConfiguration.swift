import Foundation

/// Why a ``PostgresClusterConfiguration`` could not be made, or the database refused to serve it.
///
/// No case carries the password: the URL is kept only in its redacted form.
public enum PostgresClusterError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection URL is not `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...]`
    /// (the redacted URL and the reason).
    case invalidURL(redacted: String, reason: String)
    /// A configuration value is out of range (its name and the reason).
    case invalidSetting(name: String, reason: String)
    /// The database's schema is newer than this version of Echord knows (the versions).
    case schemaTooNew(found: Int, known: Int)
    /// A database operation failed (what was being done, and the server's message without the
    /// connection details).
    case databaseFailed(operation: String, reason: String)
    /// A write for shard `shardID` was refused: this process no longer holds its lease with
    /// `epoch` (another process took the shard over).
    case leaseLost(shardID: Int, epoch: Int64)

    /// A readable explanation without credentials.
    public var description: String {
        switch self {
        case .invalidURL(let redacted, let reason): "invalid PostgreSQL URL \(redacted): \(reason)"
        case .invalidSetting(let name, let reason): "invalid cluster setting \(name): \(reason)"
        case .schemaTooNew(let found, let known):
            "the database holds Echord schema version \(found); this Echord knows up to \(known): upgrade Echord"
        case .databaseFailed(let operation, let reason): "PostgreSQL failed to \(operation): \(reason)"
        case .leaseLost(let shardID, let epoch): "the lease of shard \(shardID) (epoch \(epoch)) was lost"
        }
    }
}

/// Where and how cluster mode reaches its PostgreSQL database.
///
/// Make one from a URL such as `postgres://echord@db.example:5432/bots?sslmode=require`. The
/// password comes from the URL or, when the URL has none, from the `PGPASSWORD` environment
/// variable. It is kept out of ``description``, ``redactedURL`` and every error: print or log the
/// configuration freely.
public struct PostgresClusterConfiguration: Sendable, CustomStringConvertible {
    /// How the connection uses TLS.
    public enum TLSMode: String, Sendable, Equatable {
        /// Plain TCP (`sslmode=disable`).
        case disable
        /// TLS when the server offers it (`sslmode=prefer`, the default, as libpq's).
        case prefer
        /// TLS or no connection, with the server's certificate verified (`sslmode=require`,
        /// `verify-ca` or `verify-full`).
        case require
    }

    /// The server's host name or address.
    public var host: String
    /// The server's port (5432 unless the URL says otherwise).
    public var port: Int
    /// The user to connect as.
    public var username: String
    /// The password, if any: never printed.
    public var password: String?
    /// The database's name.
    public var database: String
    /// TLS use, from `sslmode`.
    public var tls: TLSMode = .prefer
    /// The most connections one process opens to the database (default 8).
    public var poolSize: Int = 8
    /// Tells bots apart when several share one database: every row Echord writes carries it
    /// (default `"default"`; at most 64 characters).
    public var botKey: String = "default"

    /// A configuration from a PostgreSQL URL.
    ///
    /// - Parameters:
    ///   - url: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, optionally with
    ///     `?sslmode=disable|prefer|require|verify-ca|verify-full` (`postgresql://` works too).
    ///   - environment: where `PGPASSWORD` is read when the URL holds no password.
    /// - Throws: ``PostgresClusterError/invalidURL(redacted:reason:)``.
    public init(url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let redacted = Self.redact(url)
        func fail(_ reason: String) -> PostgresClusterError { .invalidURL(redacted: redacted, reason: reason) }
        guard let components = URLComponents(string: url) else { throw fail("not a URL") }
        guard let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
            throw fail("the scheme must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else { throw fail("no host") }
        guard let user = components.user, !user.isEmpty else { throw fail("no user (postgres://USER@HOST/DB)") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw fail("no database name (postgres://USER@HOST/DB)") }
        self.host = host
        self.port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw fail("port \(port) is out of range") }
        self.username = user.removingPercentEncoding ?? user
        self.database = database.removingPercentEncoding ?? database
        if let password = components.password {
            self.password = password.removingPercentEncoding ?? password
        } else {
            self.password = environment["PGPASSWORD"]
        }
        for item in components.queryItems ?? [] where item.name == "sslmode" {
            switch item.value ?? "" {
            case "disable", "allow": tls = .disable
            case "prefer": tls = .prefer
            case "require", "verify-ca", "verify-full": tls = .require
            default: throw fail("unknown sslmode \(item.value ?? "")")
            }
        }
    }

    /// The URL without its password (`postgres://user:***@host:5432/db`).
    public var redactedURL: String {
        "postgres://\(username)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    /// The redacted URL, pool size and bot key.
    public var description: String { "PostgresCluster(\(redactedURL), pool \(poolSize), bot \(botKey))" }

    /// Checks the settings that the URL does not: pool size and bot key.
    func validate() throws {
        guard poolSize >= 1, poolSize <= 1000 else {
            throw PostgresClusterError.invalidSetting(name: "poolSize", reason: "\(poolSize) is not in 1...1000")
        }
        guard !botKey.isEmpty, botKey.count <= 64 else {
            throw PostgresClusterError.invalidSetting(name: "botKey", reason: "must be 1 to 64 characters")
        }
    }

    /// `url` with whatever stands between `://` and `@` after a `:` replaced by `***`; for URLs
    /// that do not parse, so that even a malformed URL is never echoed with its password.
    static func redact(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return "<unparsable URL>" }
        let rest = url[schemeEnd.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return url }
        let userInfo = rest[..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<schemeEnd.upperBound]) + userInfo[..<colon] + ":***" + rest[at...]
    }
}
