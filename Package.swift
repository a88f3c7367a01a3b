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
    ],
    targets: [
        // C libraries from the system (Debian: liblmdb-dev, libssl-dev); module maps only.
        .systemLibrary(name: "CLMDB", pkgConfig: "lmdb", providers: [.apt(["liblmdb-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),

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
        // Password hashing (Argon2id, scrypt) in PHC strings, and the pool it runs on.
        .target(name: "PasswordHashing", dependencies: ["CArgon2", "COpenSSL"]),
        // Ed25519 signatures on OpenSSL: access tokens and the log's checkpoints sign with them.
        .target(name: "Signatures", dependencies: ["COpenSSL"]),
        // Access tokens: EdDSA (Ed25519) JWTs on OpenSSL, the signing-key file.
        .target(name: "AccessTokens", dependencies: ["COpenSSL", "DataProtection", "EventLog", "Signatures"]),
        // Personal data protection: AES-256-GCM, the key-encryption key, the data-key store.
        .target(name: "DataProtection", dependencies: ["COpenSSL", "Signatures"]),
        // Users: commands, events, the pure decide/evolve functions, tokens and password policy.
        .target(
            name: "AuthDomain", dependencies: ["EventLog", "COpenSSL"],
            resources: [.copy("Resources/common-passwords.txt"), .copy("Resources/common-passwords.LICENSE.txt")]),

        // Projections of the log: the User table and the role index, kept in the append's
        // transaction, rebuilt into a spare generation; and the read API over them.
        .target(
            name: "Projections",
            dependencies: ["AuthDomain", "DataProtection", "EventLog", "EventLogLMDB", "LMDB"],
            path: "projections"),
        // The shell around the domain: loads, decides, appends with retries; hashing pool; mail.
        .target(
            name: "AuthService",
            dependencies: ["AuthDomain", "PasswordHashing", "DataProtection", "EventLog", "Projections"]),

        // The HTTP service: routes, problem+json errors, access tokens, limits, metrics.
        .target(
            name: "AuthHTTP",
            dependencies: [
                "AccessTokens", "AuthDomain", "AuthService", "DataProtection", "EventLog", "EventLogLMDB",
                "PasswordHashing",
                "Projections", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]),
        .executableTarget(
            name: "authd",
            dependencies: [
                "AuthHTTP", "AccessTokens", "AuthDomain", "AuthService", "DataProtection", "EventLogLMDB",
                "PasswordHashing",
                "Projections", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
        .executableTarget(
            name: "authctl",
            dependencies: [
                "EventLog", "EventLogLMDB", "AuthDomain", "AuthService", "DataProtection", "PasswordHashing",
                "Projections", "Signatures",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "tools/authctl"
        ),
        .executableTarget(
            name: "eventlog-bench",
            dependencies: ["EventLog", "EventLogLMDB", "Signatures"],
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
        // Durable appends from many writers against a PostgreSQL log.
        .executableTarget(
            name: "postgres-bench",
            dependencies: [
                "EventLog", "EventLogPostgres", "Signatures", .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "tools/postgres-bench"
        ),
        // Appends in a loop and reports each acknowledgement; the crash-safety test kills it.
        .executableTarget(
            name: "eventlog-crash-probe",
            dependencies: ["EventLog", "EventLogLMDB"],
            path: "tools/eventlog-crash-probe"
        ),

        .testTarget(name: "LMDBTests", dependencies: ["LMDB"]),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog"]),
        // One suite of the `EventLog` rules, run against every backend.
        .testTarget(
            name: "EventLogConformanceTests",
            dependencies: [
                "EventLog", "EventLogLMDB", "EventLogPostgres", "Signatures",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]),
        .testTarget(name: "AuthDomainTests", dependencies: ["AuthDomain", "EventLog"]),
        .testTarget(name: "PasswordHashingTests", dependencies: ["PasswordHashing"]),
        .testTarget(name: "DataProtectionTests", dependencies: ["DataProtection", "COpenSSL"]),
        .testTarget(name: "AccessTokensTests", dependencies: ["AccessTokens", "EventLog", "Signatures"]),
        // Helpers the black-box tests share: finding the built executables, running them.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "AuthctlTests", dependencies: ["authctl", "authd", "EventLog", "TestSupport"]),
        .testTarget(
            name: "AuthdTests",
            dependencies: [
                "authd", "authctl", "AuthHTTP", "AccessTokens", "AuthDomain", "AuthService", "DataProtection",
                "EventLog", "EventLogLMDB", "LMDB", "TestSupport",
                "PasswordHashing", "Projections", .product(name: "Hummingbird", package: "hummingbird"),
            ]),
        .testTarget(
            name: "ProjectionsTests",
            dependencies: [
                "Projections", "AuthService", "AuthDomain", "PasswordHashing", "DataProtection", "EventLog",
                "EventLogLMDB", "LMDB",
            ]),
        .testTarget(
            name: "AuthServiceTests",
            dependencies: [
                "AuthService", "AuthDomain", "PasswordHashing", "DataProtection", "EventLog", "EventLogLMDB",
            ]),
        .testTarget(
            name: "EventLogLMDBTests",
            dependencies: [
                "EventLog", "EventLogLMDB", "LMDB", "CLMDB", "Signatures", "authctl", "eventlog-crash-probe",
                "TestSupport",
            ]
        ),
    ]
)
