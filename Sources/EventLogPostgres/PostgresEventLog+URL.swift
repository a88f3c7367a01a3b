import EventLog
import Foundation
import PostgresNIO

extension PostgresEventLog {
    /// Opens the log in the database a URL names:
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|require]`
    /// (`postgresql://` too; port 5432 and `sslmode=disable` unless given). A URL it cannot
    /// read fails with ``EventLogError/storage(detail:)`` naming what is wrong, never echoing
    /// a password.
    public convenience init(url: String, options: Options = Options()) throws(EventLogError) {
        let (configuration, location) = try Self.configuration(url: url)
        try self.init(configuration: configuration, location: location, options: options)
    }

    /// The connection settings a URL names, and the URL without its password (for messages).
    public static func configuration(url: String) throws(EventLogError) -> (
        PostgresConnection.Configuration, location: String
    ) {
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw .storage(detail: "a PostgreSQL log URL reads postgres://USER@HOST:PORT/DATABASE")
        }
        guard let host = parts.host, !host.isEmpty else {
            throw .storage(detail: "the PostgreSQL log URL names no host")
        }
        guard let user = parts.user, !user.isEmpty else {
            throw .storage(detail: "the PostgreSQL log URL names no user")
        }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw .storage(detail: "the PostgreSQL log URL names no database (postgres://USER@HOST:PORT/DATABASE)")
        }
        let port = parts.port ?? 5432
        var tls = PostgresConnection.Configuration.TLS.disable
        for item in parts.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", "disable"): tls = .disable
            case ("sslmode", "require"):
                do {
                    tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                } catch {
                    throw .storage(detail: "cannot set up TLS for the PostgreSQL log: \(error)")
                }
            default:
                throw .storage(
                    detail: "the PostgreSQL log URL has an unknown option \(item.name) (known: sslmode=disable|require)"
                )
            }
        }
        let configuration = PostgresConnection.Configuration(
            // URLComponents has decoded user, password and path once already: a second decoding
            // would turn a password's literal "%41" into "A", or "%zz" into none at all.
            host: host, port: port, username: user, password: parts.password, database: database, tls: tls)
        return (configuration, "postgres://\(user)@\(host):\(port)/\(database)")
    }
}
