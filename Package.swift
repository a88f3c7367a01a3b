// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Authlog",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EventLog", targets: ["EventLog"]),
        .library(name: "EventLogLMDB", targets: ["EventLogLMDB"]),
        .library(name: "EventLogPostgres", targets: ["EventLogPostgres"]),
        .library(name: "AuthDomain", targets: ["AuthDomain"]),
        .executable(name: "authctl", targets: ["authctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Already in the build through postgres-nio; here for its Ed25519 signer (BoringSSL's).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        // Already in the build through Hummingbird; here for the peer benchmark's bare NIO
        // server and for the HTTP/1 types the fast paths read (NIOHTTP1).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        // Already in the build through Hummingbird; here for the HTTP/1 conversions the fast
        // paths make themselves (they sit in front of Hummingbird's codec).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
    ],
    targets: [
        // C libraries from the system (Debian: liblmdb-dev, libssl-dev); module maps only.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // A thin, typed Swift layer over LMDB: environments, ~Copyable transactions, cursors.
        .target(name: "LMDB", dependencies: ["CLMDB"]),
        // The log's vocabulary: envelopes, expected versions, errors, the hash chain, the codec,
        // and the `EventLog` protocol every backend implements. No storage here.
        .target(name: "EventLog", dependencies: ["COpenSSL", "Signatures"]),
        // The embedded default backend: the log on one LMDB environment, with group commit.
        .target(name: "EventLogLMDB", dependencies: ["EventLog", "LMDB", "CLMDB", "COpenSSL", "Signatures"]),
        // The log on PostgreSQL: the same envelopes and chain, a head row for dense positions.
        .target(
            name: "EventLogPostgres",
            dependencies: ["EventLog", "Signatures", .product(name: "PostgresNIO", package: "postgres-nio")]),
        // The key store on PostgreSQL: data keys, the log's signing key and the access-token
        // signing keys, wrapped by the key-encryption key, beside the log in schema `authlog`.
        .target(
            name: "KeyStorePostgres",
            dependencies: [
                "COpenSSL", "DataProtection", "EventLog", "EventLogPostgres", "Signatures",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        // Password hashing (Argon2id, scrypt) in PHC strings, and the pool it runs on.
        .target(name: "PasswordHashing", dependencies: ["CArgon2", "COpenSSL"]),
        // Ed25519 and P-256 ECDSA signatures: access tokens (ES256, EdDSA) and the log's checkpoints
        // (Ed25519) sign with them. OpenSSL for keys, verification and ECDSA; Ed25519 signing
        // through swift-crypto (BoringSSL), held to OpenSSL's bytes by a test.
        .target(
            name: "Signatures", dependencies: ["COpenSSL", .product(name: "Crypto", package: "swift-crypto")]),
        // Access tokens: ES256 (P-256) and EdDSA (Ed25519) JWTs on OpenSSL, the signing-key file.
        .target(name: "AccessTokens", dependencies: ["COpenSSL", "DataProtection", "EventLog", "Signatures"]),
        // Personal data protection: AES-256-GCM, the key-encryption key, the data-key store.
        .target(name: "DataProtection", dependencies: ["COpenSSL", "Signatures"]),
        // Users: commands, events, the pure decide/evolve functions, tokens and password policy,
        // the read rules, and the ports the shell and the HTTP layer are given (`UserStateSource`,
        // `UserReads`).
        .target(
            name: "AuthDomain", dependencies: ["EventLog", "COpenSSL"],
            resources: [.copy("Resources/common-passwords.txt"), .copy("Resources/common-passwords.LICENSE.txt")]),

        // The codec between the domain's events and the log's bytes: personal fields sealed
        // with each user's data key. Every reader and writer of user events goes through it.
        .target(name: "EventSealing", dependencies: ["AuthDomain", "DataProtection", "EventLog"]),

        // Projections of the log: the User table and the role index, kept in the append's
        // transaction, rebuilt into a spare generation; the read API over them (`UserQueries`,
        // serving `UserReads`) and `ProjectedUserStates` (serving `UserStateSource`).
        .target(
            name: "Projections",
            dependencies: ["AuthDomain", "DataProtection", "EventLog", "EventLogLMDB", "EventSealing", "LMDB"],
            path: "projections"),
        // A node's local copy of a shared log (a cluster's, on PostgreSQL): events, claims and
        // the users projection in the node's LMDB environment, kept by tailing the shared log.
        .target(
            name: "LogMirror",
            dependencies: [
                "AuthDomain", "DataProtection", "EventLog", "EventLogLMDB", "EventSealing", "LMDB", "Projections",
                "Signatures",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The shell around the domain: loads, decides, appends with retries; hashing pool; mail.
        // It reads users through `UserStateSource` (a projection or a fold, injected) and the
        // log through the `EventLog` protocol: no storage module below it.
        .target(
            name: "AuthService",
            dependencies: [
                "AuthDomain", "PasswordHashing", "DataProtection", "EventLog", "EventSealing",
                .product(name: "Mustache", package: "swift-mustache"),
            ]),

        // Mail delivery: the outbox (the Maildir) sent over SMTP with libcurl, retried, given up
        // into `failed/`.
        .target(
            name: "MailDelivery",
            dependencies: ["AuthService", "CCurl", "DataProtection", .product(name: "Logging", package: "swift-log")]),

        // Request bodies as strict, flat JSON objects (no Hummingbird here, so a fuzzer can link it).
        .target(name: "RequestJSON"),
        // The HTTP service: routes, problem+json errors, access tokens, limits, metrics, and the
        // admin console's pages (Mustache templates, Sources/AuthHTTP/Console). No storage
        // module: reads go through `UserReads`, the storage's figures through `ServerGauges`
        // (both injected by authd). DataProtection and PasswordHashing only for their errors
        // (a full key store, a busy hashing pool), which become 503s.
        .target(
            name: "AuthHTTP",
            dependencies: [
                "AccessTokens", "AuthDomain", "AuthService", "DataProtection", "EventLog", "PasswordHashing",
                "RequestJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ]),
        // Webhooks: endpoints and their delivery state in the data directory, Standard Webhooks
        // signatures, and the dispatcher authd runs (AsyncHTTPClient, see docs/architecture.md).
        .target(
            name: "Webhooks",
            dependencies: [
                "AuthDomain", "COpenSSL", "DataProtection",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "authd",
            dependencies: [
                "AuthHTTP", "AccessTokens", "AuthDomain", "AuthService", "DataProtection", "EventLog", "EventLogLMDB",
                "EventLogPostgres", "EventSealing", "KeyStorePostgres", "LogMirror", "MailDelivery", "PasswordHashing",
                "Projections", "Signatures", "Webhooks", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            // On Linux, jemalloc (Debian libjemalloc-dev) serves every allocation of the process,
            // in place of glibc's malloc (docs/architecture.md, "jemalloc as authd's allocator").
            linkerSettings: [.linkedLibrary("jemalloc", .when(platforms: [.linux]))]),
        // The export's JSON lines, parsed and checked field by field (authctl export and import).
        .target(name: "LogExport", dependencies: ["AuthDomain", "EventLog", "Signatures"]),
        .executableTarget(
            name: "authctl",
            dependencies: [
                "EventLog", "EventLogLMDB", "EventSealing", "AuthDomain", "AuthService", "DataProtection",
                "PasswordHashing", "Projections", "Signatures", "LogExport", "EventLogPostgres", "KeyStorePostgres",
                "LogMirror", "Webhooks", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "tools/authctl"
        ),
        .executableTarget(
            name: "eventlog-bench",
            dependencies: ["EventLog", "EventLogLMDB", "LogBench", "Signatures"],
            path: "tools/eventlog-bench"
        ),
        .executableTarget(
            name: "auth-bench",
            dependencies: [
                "AuthDomain", "AuthService", "PasswordHashing", "DataProtection", "EventLog", "EventLogLMDB",
            ],
            path: "tools/auth-bench"
        ),
        .executableTarget(
            name: "projection-bench",
            dependencies: ["AuthDomain", "DataProtection", "EventLog", "EventLogLMDB", "Projections"],
            path: "tools/projection-bench"
        ),
        // The fuzz targets of every parser of outside bytes (tools/fuzz/run.sh builds them for
        // libFuzzer); built as it is here, it replays inputs through a target.
        .executableTarget(
            name: "authlog-fuzz",
            dependencies: [
                "AccessTokens", "AuthDomain", "EventLog", "LMDB", "LogExport", "PasswordHashing", "RequestJSON",
                "Signatures",
            ],
            path: "tools/fuzz/targets"
        ),
        // Durable appends from many writers against a PostgreSQL log.
        .executableTarget(
            name: "postgres-bench",
            dependencies: [
                "EventLog", "EventLogPostgres", "LogBench", "Signatures",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "tools/postgres-bench"
        ),
        // The append workloads eventlog-bench and postgres-bench share.
        .target(name: "LogBench", dependencies: ["EventLog"], path: "tools/log-bench"),
        // Access-token signs and verifies per second, ES256 against EdDSA, and bare ES256
        // signatures from swift-crypto beside OpenSSL's.
        .executableTarget(
            name: "token-bench",
            dependencies: [
                "AccessTokens", "EventLog", "Signatures", .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "tools/token-bench"
        ),
        // The peer benchmark's HTTP limits: a bare Hummingbird route and a bare NIO handler
        // serving one fixed body (tools/peer-bench/run.sh).
        .executableTarget(
            name: "http-peer",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "tools/peer-bench/http-peer"
        ),
        // Appends in a loop and reports each acknowledgement; the crash-safety test kills it.
        .executableTarget(
            name: "eventlog-crash-probe",
            dependencies: ["EventLog", "EventLogLMDB"],
            path: "tools/eventlog-crash-probe"
        ),

        .testTarget(name: "LMDBTests", dependencies: ["LMDB", "TestSupport"]),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog", "TestSupport"]),
        // One suite of the `EventLog` rules, run against every backend.
        .testTarget(
            name: "EventLogConformanceTests",
            dependencies: [
                "EventLog", "EventLogLMDB", "EventLogPostgres", "PostgresTestSupport", "Signatures",
                .product(name: "PostgresNIO", package: "postgres-nio"), "TestSupport",
            ]),
        .testTarget(
            name: "KeyStorePostgresTests",
            dependencies: [
                "AccessTokens", "DataProtection", "EventLog", "EventLogPostgres", "KeyStorePostgres",
                "PostgresTestSupport", "Signatures", "TestSupport", "authctl",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        .testTarget(
            name: "LogMirrorTests",
            dependencies: [
                "AuthDomain", "AuthService", "DataProtection", "EventLog", "EventLogLMDB", "EventLogPostgres",
                "EventSealing", "KeyStorePostgres", "LogMirror", "PasswordHashing", "PostgresTestSupport",
                "Projections", "ServiceTestSupport", "TestSupport",
            ]),
        .testTarget(name: "AuthDomainTests", dependencies: ["AuthDomain", "EventLog", "TestSupport"]),
        .testTarget(name: "PasswordHashingTests", dependencies: ["PasswordHashing", "CArgon2", "TestSupport"]),
        .testTarget(name: "DataProtectionTests", dependencies: ["DataProtection", "COpenSSL", "TestSupport"]),
        .testTarget(
            name: "AccessTokensTests",
            dependencies: ["AccessTokens", "COpenSSL", "DataProtection", "EventLog", "Signatures", "TestSupport"]),
        .testTarget(name: "LogExportTests", dependencies: ["LogExport", "authlog-fuzz", "TestSupport"]),
        // Helpers the tests share: finding the built executables, running them, threads of their own.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Edits of an LMDB log's stream index, for tests that tamper with its file, and
        // environments loaded from `mdb_dump` text (the golden LMDB logs).
        .target(name: "LMDBTestSupport", dependencies: ["LMDB", "TestSupport"], path: "Tests/LMDBTestSupport"),
        // Histories of commands for tests of what folds them.
        .target(
            name: "ServiceTestSupport", dependencies: ["AuthDomain", "AuthService", "EventLog"],
            path: "Tests/ServiceTestSupport"),
        // The throwaway PostgreSQL server the backend and cluster tests share: a database each.
        .target(
            name: "PostgresTestSupport",
            dependencies: [
                "EventLogPostgres", "TestSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/PostgresTestSupport"),
        .testTarget(
            name: "AuthctlTests",
            dependencies: [
                "authctl", "authd", "DataProtection", "EventLog", "LMDB", "PostgresTestSupport", "TestSupport",
            ]),
        .testTarget(
            name: "AuthdTests",
            dependencies: [
                "authd", "authctl", "AuthHTTP", "AccessTokens", "AuthDomain", "AuthService", "DataProtection",
                "EventLog", "EventLogLMDB", "EventLogPostgres", "EventSealing", "KeyStorePostgres", "LMDB",
                "MailDelivery", "PostgresTestSupport", "LMDBTestSupport",
                "TestSupport", "RequestJSON",
                "PasswordHashing", "Projections", "Webhooks", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ]),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: [
                "Projections", "AuthService", "AuthDomain", "PasswordHashing", "DataProtection", "EventLog",
                "EventLogLMDB", "EventSealing", "LMDB", "ServiceTestSupport", "TestSupport",
            ]),
        .testTarget(
            name: "AuthServiceTests",
            dependencies: [
                "AuthService", "AuthDomain", "PasswordHashing", "DataProtection", "EventLog", "EventLogLMDB",
                "EventSealing", "ServiceTestSupport", "TestSupport",
            ]),
        .testTarget(
            name: "EventLogLMDBTests",
            dependencies: [
                "EventLog", "EventLogLMDB", "LMDB", "CLMDB", "LMDBTestSupport", "Signatures", "authctl",
                "eventlog-crash-probe", "TestSupport",
            ]
        ),
    ]
)
