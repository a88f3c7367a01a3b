import AccessTokens
import ArgumentParser
import AuthDomain
import AuthHTTP
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import EventSealing
import Foundation
import Hummingbird
import KeyStorePostgres
import Logging
import MailDelivery
import PasswordHashing
import Projections
import Signatures
import Webhooks

@main
struct Authd: AsyncParsableCommand {
    /// Keeps OpenSSL's state until exit (``OpenSSLProcess/keepStateUntilExit()``), then runs the
    /// command on the concurrency pool while the main thread waits for it.
    ///
    /// Synchronous, so that authd runs under valgrind (its 3.19 crashes inside itself when an
    /// async `main` parks the main thread in `dispatch_main`), which the instruction counts of
    /// tools/peer-bench/profile.sh need. Detached: a task started here would belong to the main
    /// actor, whose only thread is the one waiting.
    static func main() {
        OpenSSLProcess.keepStateUntilExit()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await main(nil)
            done.signal()
        }
        done.wait()
    }

    static let configuration = CommandConfiguration(
        commandName: "authd",
        abstract: "Authlog's HTTP service: registration, sessions, password resets and the read API.",
        discussion: """
            Every option but --rotate-signing-key can also be set in the environment \
            (AUTHLOG_HOST, AUTHLOG_PORT, AUTHLOG_DATA, ...; --no-console is \
            AUTHLOG_NO_CONSOLE=1). SIGTERM or SIGINT stop it gracefully: requests in flight \
            finish, then the log is closed.

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
    @Option(
        help:
            "Requests per minute per client address on login (the console's too), refresh, reset confirmation, password (change and self-deletion), email change and the console's sign-in form, each kind apart ($AUTHLOG_RATE_LIMIT)."
    )
    var rateLimit = Int(environment["AUTHLOG_RATE_LIMIT"] ?? "") ?? 60
    @Option(
        name: .customLong("metrics-host"),
        help: "Address of the metrics listener ($AUTHLOG_METRICS_HOST, 127.0.0.1); needs --metrics-port.")
    var metricsHostGiven: String?
    var metricsHost: String? { metricsHostGiven ?? Self.environment["AUTHLOG_METRICS_HOST"] }
    @Option(
        name: .customLong("metrics-port"),
        help: "Serve /metrics on this port only, not on the public listener ($AUTHLOG_METRICS_PORT; default: none).")
    var metricsPortGiven: Int?
    var metricsPort: Int? { metricsPortGiven ?? Int(Self.environment["AUTHLOG_METRICS_PORT"] ?? "") }
    @Option(
        help:
            "Registrations, reset requests and verification requests per minute per client address, each counted apart ($AUTHLOG_REGISTRATION_RATE_LIMIT)."
    )
    var registrationRateLimit = Int(environment["AUTHLOG_REGISTRATION_RATE_LIMIT"] ?? "") ?? 10
    @Option(
        help:
            "Password-reset requests per hour for one email address, from all clients, and reset mails per hour for one account, counted from its events on every node and across restarts (at most 32; $AUTHLOG_RESETS_PER_ACCOUNT)."
    )
    var resetsPerAccount = Int(environment["AUTHLOG_RESETS_PER_ACCOUNT"] ?? "") ?? 5
    @Option(
        help:
            "Wrong passwords per 15 minutes for one account from one client address ($AUTHLOG_LOGIN_FAILURES_PER_ADDRESS)."
    )
    var loginFailuresPerAddress = Int(environment["AUTHLOG_LOGIN_FAILURES_PER_ADDRESS"] ?? "") ?? 10
    @Option(
        help: "Wrong passwords per 15 minutes for one account from all addresses ($AUTHLOG_LOGIN_FAILURES_PER_ACCOUNT)."
    )
    var loginFailuresPerAccount = Int(environment["AUTHLOG_LOGIN_FAILURES_PER_ACCOUNT"] ?? "") ?? 500
    @Option(help: "Longest wait in seconds for a password-hashing thread before 503 busy ($AUTHLOG_HASHING_WAIT).")
    var hashingWait = Double(environment["AUTHLOG_HASHING_WAIT"] ?? "") ?? 1
    @Option(
        help: ArgumentHelp(
            "A proxy (CIDR) whose X-Forwarded-For names the client; repeatable ($AUTHLOG_TRUSTED_PROXY, comma-separated).",
            valueName: "cidr"))
    var trustedProxy: [String] = (environment["AUTHLOG_TRUSTED_PROXY"] ?? "").split(separator: ",").map(String.init)
    @Option(help: "Seconds a request's header may take to arrive ($AUTHLOG_HEADER_TIMEOUT).")
    var headerTimeout = Int64(environment["AUTHLOG_HEADER_TIMEOUT"] ?? "") ?? 10
    @Option(help: "Seconds a request's body may take to arrive after its header ($AUTHLOG_BODY_TIMEOUT).")
    var bodyTimeout = Int64(environment["AUTHLOG_BODY_TIMEOUT"] ?? "") ?? 30
    @Option(help: "Seconds a kept-alive connection may wait for its next request ($AUTHLOG_IDLE_TIMEOUT).")
    var idleTimeout = Int64(environment["AUTHLOG_IDLE_TIMEOUT"] ?? "") ?? 60
    @Option(
        help:
            "Seconds a connection may stay unable to take more of its answers, none going out (its client not reading), and its last answer may take to go out ($AUTHLOG_WRITE_TIMEOUT)."
    )
    var writeTimeout = Int64(environment["AUTHLOG_WRITE_TIMEOUT"] ?? "") ?? 30
    @Option(
        help:
            "Connections served at once; default: the open-file limit less 64, at most 10000 ($AUTHLOG_MAX_CONNECTIONS)."
    )
    var maxConnections = Int(environment["AUTHLOG_MAX_CONNECTIONS"] ?? "") ?? Self.defaultMaximumConnections
    @Option(help: "Connections one client address may hold open ($AUTHLOG_MAX_CONNECTIONS_PER_ADDRESS).")
    var maxConnectionsPerAddress = Int(environment["AUTHLOG_MAX_CONNECTIONS_PER_ADDRESS"] ?? "") ?? 64
    @Option(
        name: .customLong("issuer"),
        help:
            "Access-token issuer and audience, and the discovery document's issuer ($AUTHLOG_ISSUER; default: the public URL)."
    )
    var issuerGiven: String?
    var issuer: String? { issuerGiven ?? Self.environment.value(of: "AUTHLOG_ISSUER") }
    @Option(
        help:
            "Algorithm new access tokens are signed with: es256 or eddsa ($AUTHLOG_TOKEN_ALGORITHM; default es256). Keys of the other kind still verify."
    )
    var tokenAlgorithm = environment["AUTHLOG_TOKEN_ALGORITHM"].flatMap { $0.isEmpty ? nil : $0 } ?? "es256"
    @Option(
        help:
            "Make ES256 nonces ahead of time, in idle CPU time: on or off ($AUTHLOG_ES256_NONCES_AHEAD; default on). Off where this process's memory may be copied and run twice, as a virtual machine's snapshot restored twice."
    )
    var es256NoncesAhead = environment["AUTHLOG_ES256_NONCES_AHEAD"].flatMap { $0.isEmpty ? nil : $0 } ?? "on"
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical ($AUTHLOG_LOG_LEVEL).")
    var logLevel = environment["AUTHLOG_LOG_LEVEL"] ?? "info"
    @Option(
        help: "Initial size of the log's map in MiB; it doubles when full, up to the disk ($AUTHLOG_INITIAL_MAP_MIB).")
    var initialMapMib = Int(environment["AUTHLOG_INITIAL_MAP_MIB"] ?? "") ?? 16
    @Option(
        help:
            "Longest wait in seconds for the read model to reach a read's Authlog-Min-Position, 0 to 60, before 503 ($AUTHLOG_MIN_POSITION_WAIT)."
    )
    var minPositionWait = Double(environment["AUTHLOG_MIN_POSITION_WAIT"] ?? "") ?? 2
    @Option(
        name: .customLong("log-url"),
        help:
            "Keep the log on PostgreSQL, shared by every node: postgres://USER[:PASSWORD]@HOST:PORT/DB ($AUTHLOG_LOG_URL; default: the embedded log in --data)."
    )
    var logURLGiven: String?
    var logURL: String? { logURLGiven ?? Self.environment.value(of: "AUTHLOG_LOG_URL") }
    @Option(
        name: .customLong("public-url"),
        help:
            "The address clients reach authd at, used in links and discovery, e.g. https://auth.example.com ($AUTHLOG_PUBLIC_URL; default: http://HOST:PORT)."
    )
    var publicURLGiven: String?
    var publicURL: String? { publicURLGiven ?? Self.environment.value(of: "AUTHLOG_PUBLIC_URL") }
    @Option(help: "Seconds without an event before an event stream sends a heartbeat ($AUTHLOG_STREAM_HEARTBEAT).")
    var streamHeartbeat = Double(environment["AUTHLOG_STREAM_HEARTBEAT"] ?? "") ?? 15
    @Option(help: "Event streams open at once in all ($AUTHLOG_MAX_STREAMS).")
    var maxStreams = Int(environment["AUTHLOG_MAX_STREAMS"] ?? "") ?? 256
    @Option(help: "Event streams one client address may hold open ($AUTHLOG_MAX_STREAMS_PER_ADDRESS).")
    var maxStreamsPerAddress = Int(environment["AUTHLOG_MAX_STREAMS_PER_ADDRESS"] ?? "") ?? 4
    @Option(
        help:
            "Seconds before a failed webhook delivery is first retried; doubles up to 300 ($AUTHLOG_WEBHOOK_FIRST_RETRY)."
    )
    var webhookFirstRetry = Double(environment["AUTHLOG_WEBHOOK_FIRST_RETRY"] ?? "") ?? 1
    @Option(
        help:
            "Seconds a webhook endpoint may fail without a success before it is disabled ($AUTHLOG_WEBHOOK_DISABLE_AFTER; 3 days)."
    )
    var webhookDisableAfter = Double(environment["AUTHLOG_WEBHOOK_DISABLE_AFTER"] ?? "") ?? 259_200
    @Option(
        help:
            "Seconds a webhook receiver has to answer: a delivery with no status by then has failed, and an answer's body is read no longer ($AUTHLOG_WEBHOOK_TIMEOUT)."
    )
    var webhookTimeout = Double(environment["AUTHLOG_WEBHOOK_TIMEOUT"] ?? "") ?? 10
    @Option(help: "Minutes an admin console session may stay unused before it ends ($AUTHLOG_CONSOLE_IDLE_MINUTES).")
    var consoleIdleMinutes = Double(environment["AUTHLOG_CONSOLE_IDLE_MINUTES"] ?? "") ?? 15
    @Option(
        help: "Minutes an admin console session lasts after its sign-in ($AUTHLOG_CONSOLE_SESSION_MINUTES)."
    )
    var consoleSessionMinutes = Double(environment["AUTHLOG_CONSOLE_SESSION_MINUTES"] ?? "") ?? 480
    @Option(
        name: .customLong("console-templates"),
        help: ArgumentHelp(
            "A directory whose NAME.html.mustache files replace the console's built-in pages ($AUTHLOG_CONSOLE_TEMPLATES).",
            valueName: "dir"))
    var consoleTemplatesGiven: String?
    var consoleTemplates: String? {
        consoleTemplatesGiven ?? Self.environment.value(of: "AUTHLOG_CONSOLE_TEMPLATES")
    }
    @Flag(help: "Do not serve the admin console under /admin ($AUTHLOG_NO_CONSOLE=1).")
    var noConsole = environment["AUTHLOG_NO_CONSOLE"] == "1"
    @OptionGroup(title: "Mail") var mail: MailOptions
    @Flag(help: "Add a new signing key (it signs from now on; older keys still verify), then exit.")
    var rotateSigningKey = false

    func run() async throws {
        var logger = Logger(label: "authd")
        guard let level = Logger.Level(rawValue: logLevel) else {
            return fail("unknown log level \(logLevel)", code: 64)
        }
        logger.logLevel = level
        guard let algorithm = TokenAlgorithm(option: tokenAlgorithm) else {
            return fail("--token-algorithm must be es256 or eddsa", code: 64)
        }
        guard ["on", "off"].contains(es256NoncesAhead) else {
            return fail("--es256-nonces-ahead must be on or off", code: 64)
        }
        guard ["argon2id", "scrypt"].contains(passwordHash) else {
            return fail("--password-hash must be argon2id or scrypt", code: 64)
        }
        guard accessTokenTTL > 0, refreshGrace >= 0, rateLimit > 0, (0...65_535).contains(port) else {
            return fail(
                "--access-token-ttl and --rate-limit must be positive, --refresh-grace not negative, --port 0 to 65535",
                code: 64)
        }
        // A metrics setting that does not take effect would leave /metrics on the public listener.
        if metricsPort == nil, let given = Self.environment["AUTHLOG_METRICS_PORT"], !given.isEmpty {
            return fail("AUTHLOG_METRICS_PORT must be a port number, got \(given)", code: 64)
        }
        if let metricsPort, !(0...65_535).contains(metricsPort) {
            return fail("--metrics-port must be 0 to 65535", code: 64)
        }
        if metricsHost != nil, metricsPort == nil {
            return fail("--metrics-host needs --metrics-port", code: 64)
        }
        guard
            [
                registrationRateLimit, resetsPerAccount, loginFailuresPerAddress, loginFailuresPerAccount,
                maxConnections, maxConnectionsPerAddress,
            ].allSatisfy({ $0 > 0 }),
            [headerTimeout, bodyTimeout, idleTimeout, writeTimeout].allSatisfy({ $0 > 0 }), hashingWait > 0,
            (1...1 << 20).contains(initialMapMib)
        else {
            return fail(
                "rate limits, timeouts, connection caps, --hashing-wait and --initial-map-mib must be positive",
                code: 64)
        }
        guard maxStreams > 0, maxStreamsPerAddress > 0, (0.01...3_600).contains(streamHeartbeat) else {
            return fail(
                "--max-streams and --max-streams-per-address must be positive, --stream-heartbeat 0.01 to 3600 seconds",
                code: 64)
        }
        guard (0.01...3_600).contains(webhookFirstRetry), webhookDisableAfter >= 1, (0.1...300).contains(webhookTimeout)
        else {
            return fail(
                "--webhook-first-retry must be 0.01 to 3600 seconds, --webhook-disable-after at least 1, --webhook-timeout 0.1 to 300",
                code: 64)
        }
        guard (0...60).contains(minPositionWait) else {
            return fail("--min-position-wait must be 0 to 60 seconds", code: 64)
        }
        guard (0.1...1_440).contains(consoleIdleMinutes) else {
            return fail("--console-idle-minutes must be 0.1 to 1440", code: 64)
        }
        guard (0.05...43_200).contains(consoleSessionMinutes) else {
            return fail("--console-session-minutes must be 0.05 to 43200", code: 64)
        }
        let pages: ConsoleTemplates
        if let consoleTemplates, !isDirectory(consoleTemplates) {
            return fail("--console-templates \(consoleTemplates) is not a directory", code: 64)
        }
        do { pages = try ConsoleTemplates(directory: consoleTemplates) } catch { return fail("\(error)", code: 64) }
        let publicBase: PublicURL
        if let publicURL {
            guard let parsed = PublicURL(publicURL) else {
                return fail(
                    "--public-url \(publicURL) must be an http or https URL without a query, like https://auth.example.com",
                    code: 64)
            }
            publicBase = parsed
        } else {
            publicBase = PublicURL(host: host, port: port)
        }
        let smtp: SMTPSettings?
        let templates: MailTemplates
        do {
            smtp = try mail.smtpSettings()
            templates = try mail.templates()
        } catch { return fail("\(error)", code: 64) }
        // The tokens' `iss` is the discovery document's issuer: the public URL unless set.
        let issuer = self.issuer ?? publicBase.base
        var proxies: [AddressRange] = []
        for text in trustedProxy.map({ $0.trimmingCharacters(in: .whitespaces) }) where !text.isEmpty {
            guard let range = AddressRange(text) else {
                return fail("--trusted-proxy \(text) is not an address range like 10.0.0.0/8", code: 64)
            }
            proxies.append(range)
        }
        let keyFile = data + "/signing-keys"
        if rotateSigningKey {
            do {
                if let logURL {
                    // A mistyped URL is refused: no log is made for a rotation.
                    let keys = try PostgresKeyStore(url: logURL, kek: try sharedKEK(), createLogIfMissing: false)
                    let kid = try keys.addAccessTokenSigningKey(algorithm: algorithm)
                    print(
                        "added \(algorithm.rawValue) signing key \(kid) to the shared database; every node signing \(algorithm.rawValue) signs with it once restarted"
                    )
                } else {
                    // Sealed under the directory's key: the KEK must be at hand, as for a start.
                    guard let sealing = try KeyStore(dataDirectory: data).fileSealingKey else {
                        return fail("\(data) holds no key store to seal a signing key with", code: 2)
                    }
                    let sealed = try SigningKeys.sealKeysInTheClear(in: keyFile, sealing: sealing)
                    if sealed.sealed > 0 {
                        print("keys written in the clear in \(keyFile), now sealed: \(sealed.sealed)")
                    }
                    if let reason = sealed.oldBytesNotOverwritten {
                        FileHandle.standardError.write(
                            Data(
                                "authd: the old \(keyFile)'s bytes were not overwritten with zeros (\(reason)); its keys may stay on the disk\n"
                                    .utf8))
                    }
                    let kid = try SigningKeys.append(to: keyFile, algorithm: algorithm, sealing: sealing)
                    print("added \(algorithm.rawValue) signing key \(kid) to \(keyFile); restart authd to sign with it")
                }
            } catch { return fail("\(error)", code: 2) }
            return
        }
        let storage: Storage
        do {
            try SecretFile.secureDirectory(data, readOnly: false)  // tightened to 0700, or refused
            if let logURL {
                storage = try .clusterNode(
                    data: data, logURL: logURL, kek: try sharedKEK(), initialMapMib: initialMapMib,
                    tokenAlgorithm: algorithm, logger: logger)
            } else {
                storage = try .embedded(
                    data: data, initialMapMib: initialMapMib, tokenAlgorithm: algorithm, logger: logger)
            }
        } catch { return fail("\(error)", code: 2) }
        Self.sealWebhookSecrets(WebhookStore(dataDirectory: data), sealing: storage.fileSealing, logger: logger)
        let pool = HashingPool(maximumWait: hashingWait)
        // ES256 signatures take their nonces from a pool made in idle time (P256Nonces).
        if algorithm == .es256, es256NoncesAhead == "on" { P256Nonces.shared.startRefillingWhenIdle() }
        defer {
            storage.close()
            pool.stop()
            P256Nonces.shared.stop()
        }
        let server: AuthServer
        let directory: UserDirectoryIndex?
        let feed = SealedEventFeed(log: storage.local, keys: storage.keys)
        let delivery: DeliveryWorker?
        let service: AuthService
        // Read from the projection's public row: no data key is fetched for it.
        let isErased = { @Sendable [reads = UserQueries(storage.projection)] (id: UUID) throws -> Bool in
            try reads.user(id: id, includePersonal: false)?.isErased == true
        }
        do {
            let outbox: MaildirMailer
            (outbox, delivery) = try mail.outbox(
                data: data, smtp: smtp, logger: logger, erased: { (try? isErased($0)) == true })
            var rules = AuthPolicy()
            rules.rotationGrace = refreshGrace * 1_000_000
            rules.resetMailsPerHour = resetsPerAccount
            let hasher: any PasswordHasher = passwordHash == "scrypt" ? ScryptHasher() : Argon2idHasher()
            var settings = AuthService.Configuration(
                passwordPolicy: try PasswordPolicy(minimumLength: minPasswordLength),
                hashing: PasswordHashing(current: hasher),
                rules: rules)
            settings.templates = templates
            settings.publicURL = publicBase
            service = try AuthService(
                log: storage.log, keys: storage.keys,
                configuration: settings,
                pool: pool, mailer: outbox,
                states: storage.states
            )
            var configuration = AuthServer.Configuration()
            configuration.host = host
            configuration.port = port
            configuration.issuer = issuer
            configuration.audience = issuer
            configuration.accessTokenLifetime = accessTokenTTL
            configuration.rateLimitPerMinute = rateLimit
            configuration.metricsHost = metricsHost ?? configuration.metricsHost
            configuration.metricsPort = metricsPort
            configuration.registrationRateLimitPerMinute = registrationRateLimit
            configuration.resetRequestsPerAccount = resetsPerAccount
            configuration.loginFailuresPerAddress = loginFailuresPerAddress
            configuration.loginFailuresPerAccount = loginFailuresPerAccount
            configuration.trustedProxies = proxies
            configuration.headerTimeout = headerTimeout
            configuration.bodyTimeout = bodyTimeout
            configuration.idleTimeout = idleTimeout
            configuration.writeTimeout = writeTimeout
            configuration.maximumConnections = maxConnections
            configuration.maximumConnectionsPerAddress = maxConnectionsPerAddress
            configuration.publicURL = publicBase
            configuration.minimumPositionWait = .milliseconds(Int64((minPositionWait * 1_000).rounded()))
            configuration.streamHeartbeat = .milliseconds(Int64((streamHeartbeat * 1_000).rounded()))
            configuration.maximumStreams = maxStreams
            configuration.maximumStreamsPerAddress = maxStreamsPerAddress
            directory = noConsole ? nil : UserDirectoryIndex(storage.projection)
            server = AuthServer(
                configuration: configuration, service: service, reads: UserQueries(storage.projection),
                gauges: { [storage, pool] in
                    var gauges = storage.gauges()
                    gauges.kdfQueueDepth = pool.queueDepth
                    gauges.addNonces(P256Nonces.shared)
                    gauges.addMail(outbox, delivery)
                    return gauges
                },
                progress: storage.progress, feed: feed,
                console: directory.map { directory in
                    AdminConsole(
                        directory: directory, log: storage.consoleLog,
                        idleTimeout: .milliseconds(Int64((consoleIdleMinutes * 60_000).rounded())),
                        sessionLifetime: .milliseconds(Int64((consoleSessionMinutes * 60_000).rounded())),
                        templates: pages, heldSessions: ConsoleHeldSessionsFile(dataDirectory: data))
                },
                // Service credentials: files in DATA/credentials, re-read when they change.
                credentials: CredentialStore(dataDirectory: data),
                tokens: AccessTokenIssuer(issuer: issuer, audience: issuer, keys: storage.tokenKeys),
                logger: logger)
        } catch {
            return fail("\(error)", code: 2)
        }
        // The console's search index is built now, beside serving, rather than by the first
        // search (15 s for 1,000,000 users in a release build: docs/performance.md).
        if let directory { Self.buildInBackground(directory, logger: logger) }
        // Each node delivers what its own outbox holds, starting with what waited already.
        do { try delivery?.start() } catch { return fail("\(error)", code: 2) }
        defer { delivery?.stop() }
        logger.info("authd listening", metadata: ["host": "\(host)", "port": "\(port)", "data": "\(data)"])
        // A cluster node copies the shared log into its read model for as long as it serves,
        // and makes the copy again, serving, if the shared log stops continuing it (LogMirror).
        let following = storage.mirror.map { mirror in Task { await mirror.follow() } }
        defer { following?.cancel() }
        // Webhooks: endpoints in DATA/webhooks, delivered from this node's copy of the log.
        var hooks = WebhookDispatcher.Configuration()
        hooks.firstRetry = .milliseconds(Int64((webhookFirstRetry * 1_000).rounded()))
        hooks.disableAfter = .milliseconds(Int64((webhookDisableAfter * 1_000).rounded()))
        hooks.requestTimeout = .milliseconds(Int64((webhookTimeout * 1_000).rounded()))
        let dispatcher = WebhookDispatcher(
            store: WebhookStore(dataDirectory: data), sealing: storage.fileSealing, feed: feed, configuration: hooks,
            logger: logger)
        let delivering = Task { await dispatcher.run() }
        defer { delivering.cancel() }
        // The outbox keeps no mail of an erased user, whichever node erased them.
        let purging = Task {
            while !Task.isCancelled {
                do {
                    let purged = try await service.purgeMailOfErasedUsers(isErased: isErased)
                    if purged > 0 { logger.info("mail of erased users deleted", metadata: ["users": "\(purged)"]) }
                } catch {
                    logger.error("the outbox could not be read for erased users' mail", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: Self.erasedMailSweep)
            }
        }
        defer { purging.cancel() }
        // The log sessions of console sessions that ended are ended in the log too, those a
        // crash left open first.
        server.endConsoleSessionsHeldBeforeStart()
        let endingConsoleSessions = Task { await server.endConsoleSessionsAsTheyEnd() }
        defer { endingConsoleSessions.cancel() }
        try await server.application().runService()
        delivering.cancel()
        await delivering.value  // no delivery reads the log once it closes
        purging.cancel()
        await purging.value  // nor the sweep the projection
        endingConsoleSessions.cancel()
        await endingConsoleSessions.value  // nor an append the log
        // A restart signs everyone out of the console: their log sessions end now, not at
        // their own lifetime.
        await server.endConsoleSessionsAtStop()
        logger.info("authd stopped")
    }

    /// How often the outbox is looked through for mail of erased users.
    static let erasedMailSweep = Duration.seconds(2)

    /// The key-encryption key every node of a cluster shares: AUTHLOG_KEK, AUTHLOG_KEK_FILE or
    /// DATA/kek, never generated (a node with a key of its own could read nothing the others
    /// wrote, and the shared key store refuses it).
    func sharedKEK() throws -> KeyEncryptionKey {
        try KeyEncryptionKey.load(dataDirectory: data, environment: Self.environment, mayGenerate: false).key
    }

    /// The open-file limit less 64 (for the log, the key store and the mail), at most 10,000:
    /// so that the cap, not the file limit, is what a flood of connections meets.
    static var defaultMaximumConnections: Int {
        var limit = rlimit()
        #if os(Linux)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 1_024 }
        return Int(max(80, min(limit.rlim_cur, 10_064)) - 64)
    }

    func fail(_ message: String, code: Int32) {
        FileHandle.standardError.write(Data("authd: \(message)\n".utf8))
        Foundation.exit(code)
    }
}
