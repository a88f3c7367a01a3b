import AccessTokens
import ArgumentParser
import AuthDomain
import AuthHTTP
import AuthService
import DataProtection
import EventLogLMDB
import Foundation
import Hummingbird
import Logging
import PasswordHashing
import Projections

@main
struct Authd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authd",
        abstract: "Authlog's HTTP service: registration, sessions, password resets and the read API.",
        discussion: """
            Every option can also be set in the environment (AUTHLOG_HOST, AUTHLOG_PORT, \
            AUTHLOG_DATA, ...). SIGTERM or SIGINT stop it gracefully: requests in flight finish, \
            then the log is closed.

            Example:
              authd --host 127.0.0.1 --port 8080 --data ./data
            """)

    static let environment = ProcessInfo.processInfo.environment

    @Option(help: "Address to listen on ($AUTHLOG_HOST).") var host = environment["AUTHLOG_HOST"] ?? "127.0.0.1"
    @Option(help: "Port ($AUTHLOG_PORT).") var port = Int(environment["AUTHLOG_PORT"] ?? "") ?? 8080
    @Option(help: "Data directory ($AUTHLOG_DATA).") var data = environment["AUTHLOG_DATA"] ?? "./data"
    @Option(help: "Access-token lifetime in seconds ($AUTHLOG_ACCESS_TOKEN_TTL).")
    var accessTokenTTL = Int64(environment["AUTHLOG_ACCESS_TOKEN_TTL"] ?? "") ?? 900
    @Option(help: "Refresh-token rotation grace window in seconds, 0 for none ($AUTHLOG_REFRESH_GRACE).")
    var refreshGrace = Int64(environment["AUTHLOG_REFRESH_GRACE"] ?? "") ?? 10
    @Option(help: "Shortest password accepted, 8 to 64 ($AUTHLOG_MIN_PASSWORD_LENGTH).")
    var minPasswordLength = Int(environment["AUTHLOG_MIN_PASSWORD_LENGTH"] ?? "") ?? 15
    @Option(help: "Hash for new passwords: argon2id or scrypt ($AUTHLOG_PASSWORD_HASH).")
    var passwordHash = environment["AUTHLOG_PASSWORD_HASH"] ?? "argon2id"
    @Option(help: "Requests per minute per client address on login, refresh and reset ($AUTHLOG_RATE_LIMIT).")
    var rateLimit = Int(environment["AUTHLOG_RATE_LIMIT"] ?? "") ?? 60
    @Option(help: "Access-token issuer and audience ($AUTHLOG_ISSUER).") var issuer =
        environment["AUTHLOG_ISSUER"] ?? "authlog"
    @Option(help: "Log level: trace, debug, info, notice, warning, error ($AUTHLOG_LOG_LEVEL).")
    var logLevel = environment["AUTHLOG_LOG_LEVEL"] ?? "info"
    @Flag(help: "Add a new signing key (it signs from now on; older keys still verify), then exit.")
    var rotateSigningKey = false

    func run() async throws {
        var logger = Logger(label: "authd")
        guard let level = Logger.Level(rawValue: logLevel) else {
            return fail("unknown log level \(logLevel)", code: 64)
        }
        logger.logLevel = level
        guard ["argon2id", "scrypt"].contains(passwordHash) else {
            return fail("--password-hash must be argon2id or scrypt", code: 64)
        }
        guard accessTokenTTL > 0, refreshGrace >= 0, rateLimit > 0, (0...65_535).contains(port) else {
            return fail(
                "--access-token-ttl and --rate-limit must be positive, --refresh-grace not negative, --port 0 to 65535",
                code: 64)
        }
        let keyFile = data + "/signing-keys"
        if rotateSigningKey {
            do { try SigningKeys.append(to: keyFile) } catch { return fail("\(error)", code: 2) }
            print("added a signing key to \(keyFile); restart authd to sign with it")
            return
        }
        let log: LMDBEventLog
        do {
            try SecretFile.secureDirectory(data, readOnly: false)  // tightened to 0700, or refused
            log = try LMDBEventLog(directory: data)
        } catch { return fail("\(error)", code: 2) }
        let pool = HashingPool()
        defer {
            log.close()
            pool.stop()
        }
        let server: AuthServer
        do {
            let keys = try KeyStore(dataDirectory: data)
            if !keys.repairedDuplicates.isEmpty {
                logger.warning(
                    "removed extra copies of data keys (left by an interrupted import)",
                    metadata: ["users": "\(keys.repairedDuplicates.count)"])
            }
            // Every commit signs the log's head; a log whose signed head does not match is refused.
            if let signingKey = keys.logSigningKey {
                try log.startSigning(with: signingKey)
                logger.info(
                    "signing the log's checkpoints",
                    metadata: ["public_key": "\(signingKey.publicKey.map { String(format: "%02x", $0) }.joined())"])
            }
            let progressLogger = logger
            let projection = try UserProjection(log: log, keys: keys) { progress in
                progressLogger.info(
                    "rebuilding projections",
                    metadata: ["position": "\(progress.position)", "target": "\(progress.target)"])
            }
            var rules = AuthPolicy()
            rules.rotationGrace = refreshGrace * 1_000_000
            let hasher: any PasswordHasher = passwordHash == "scrypt" ? ScryptHasher() : Argon2idHasher()
            let service = try AuthService(
                log: log, keys: keys,
                configuration: .init(
                    passwordPolicy: try PasswordPolicy(minimumLength: minPasswordLength),
                    hashing: PasswordHashing(current: hasher),
                    rules: rules),
                pool: pool, mailer: try MaildirMailer(directory: data + "/maildir"), projection: UserQueries(projection)
            )
            var configuration = AuthServer.Configuration()
            configuration.host = host
            configuration.port = port
            configuration.issuer = issuer
            configuration.audience = issuer
            configuration.accessTokenLifetime = accessTokenTTL
            configuration.rateLimitPerMinute = rateLimit
            server = AuthServer(
                configuration: configuration, service: service, queries: UserQueries(projection), log: log, pool: pool,
                tokens: AccessTokenIssuer(issuer: issuer, audience: issuer, keys: try SigningKeys(file: keyFile)),
                logger: logger)
        } catch {
            return fail("\(error)", code: 2)
        }
        logger.info("authd listening", metadata: ["host": "\(host)", "port": "\(port)", "data": "\(data)"])
        try await server.application().runService()
        logger.info("authd stopped")
    }

    func fail(_ message: String, code: Int32) {
        FileHandle.standardError.write(Data("authd: \(message)\n".utf8))
        Foundation.exit(code)
    }
}
