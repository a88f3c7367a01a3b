import Foundation
import PostgresTestSupport
import TestSupport
import Testing

/// A database of its own on the test PostgreSQL server, for one test; dropped afterwards.
final class SharedLogDatabase {
    let name: String
    let url: String

    init() throws {
        (name, url) = try TestPostgres.createDatabase(prefix: "authlog_authctl")
    }

    /// A new database with the shared log's tables, made as an operator makes them:
    /// `authctl --log-url URL init`.
    static func madeByInit() throws -> SharedLogDatabase {
        let database = try SharedLogDatabase()
        let made = try authctl(["--log-url", database.url, "init"])
        #expect(made.status == 0, "\(made.stderr)")
        return database
    }

    /// The tables of the schema `authlog`: none in a database no command was allowed to make a log in.
    func authlogTables() throws -> Int64 {
        try TestPostgres.count(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'authlog'", database: name)
    }

    deinit { TestPostgres.dropDatabase(name) }
}

/// authctl with `--log-url`: every command against the shared log on PostgreSQL.
@Suite(.ownThreads, .serialized, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct SharedLogTests {
    static let golden = GoldenLogTests.folder + "/export-v2/export.jsonl"

    /// Golden export -> shared log -> export: the same bytes; -> a fresh LMDB directory ->
    /// export: the same bytes again. The shared log verifies signed, holds the live users'
    /// claims, and refuses a second import.
    @Test func anExportImportedIntoTheSharedLogExportsTheSameBytesBothWays() throws {
        let database = try SharedLogDatabase()
        let scratch = try Scratch()
        let node = scratch.at("node")
        let shared = ["--log-url", database.url, "--data", node]
        let original = try String(contentsOfFile: Self.golden, encoding: .utf8)
        let imported = try authctl(shared + ["import", Self.golden], environment: GoldenLogTests.kek)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported 347 events"), "\(imported.stdout)")

        let exported = try authctl(shared + ["export"], environment: GoldenLogTests.kek)
        #expect(exported.status == 0, "\(exported.stderr)")
        #expect(exported.stdout == original)

        let again = try authctl(shared + ["import", Self.golden], environment: GoldenLogTests.kek)
        #expect(again.status == 2 && again.stderr.contains("already holds 347 events"), "\(again.stderr)")
        #expect(again.stderr.split(separator: "\n").count == 1)

        let verified = try authctl(shared + ["verify"], environment: GoldenLogTests.kek)
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.contains("intact and signed: 347 events verified"), "\(verified.stdout)")

        // The claims of every user who is not erased: the email, and the Stripe id if linked.
        let users = try String(contentsOfFile: GoldenLogTests.folder + "/export-v2/users.jsonl", encoding: .utf8)
            .split(separator: "\n").map(json).filter { $0["erased"] as? Bool != true }
        let expected = users.count + users.filter { $0["stripe_customer_id"] is String }.count
        #expect(expected > 0)
        #expect(try TestPostgres.count("SELECT count(*) FROM authlog.claims", database: database.name) == expected)

        let copy = scratch.at("from-shared.jsonl")
        try exported.stdout.write(toFile: copy, atomically: true, encoding: .utf8)
        let lmdb = scratch.at("lmdb")
        let back = try authctl(["--data", lmdb, "import", copy], environment: GoldenLogTests.kek)
        #expect(back.status == 0, "\(back.stderr)")
        let lmdbExport = try authctl(["--data", lmdb, "export"], environment: GoldenLogTests.kek)
        #expect(lmdbExport.status == 0, "\(lmdbExport.stderr)")
        #expect(lmdbExport.stdout == original)
    }

    /// An import the database refuses part-way (here at its last step, the claims, by a
    /// trigger) writes nothing: no key, no event, no claim, the head where it was; the same
    /// import then goes through once the database accepts it.
    @Test func anImportRefusedAtItsLastStepLeavesTheSharedLogEmpty() throws {
        let database = try SharedLogDatabase()
        let scratch = try Scratch()
        let shared = ["--log-url", database.url, "--data", scratch.at("node")]
        let empty = try authctl(shared + ["init"], environment: GoldenLogTests.kek)  // makes the schema
        #expect(empty.status == 0, "\(empty.stderr)")
        try TestPostgres.administer(
            """
            CREATE FUNCTION refuse_claims() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN RAISE EXCEPTION 'claims refused by the test'; END $$
            """, database: database.name)
        try TestPostgres.administer(
            """
            CREATE TRIGGER refuse_claims BEFORE INSERT ON authlog.claims
              FOR EACH STATEMENT EXECUTE FUNCTION refuse_claims()
            """, database: database.name)

        let refused = try authctl(shared + ["import", Self.golden], environment: GoldenLogTests.kek)
        #expect(refused.status == 2, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.contains("nothing was imported"), "\(refused.stderr)")
        #expect(refused.stderr.contains("claims refused by the test"), "\(refused.stderr)")
        for table in ["authlog.events", "authlog.data_keys", "authlog.claims", "authlog.checkpoints"] {
            #expect(try TestPostgres.count("SELECT count(*) FROM \(table)", database: database.name) == 0, "\(table)")
        }
        #expect(try TestPostgres.count("SELECT position FROM authlog.head", database: database.name) == 0)

        try TestPostgres.administer("DROP TRIGGER refuse_claims ON authlog.claims", database: database.name)
        let imported = try authctl(shared + ["import", Self.golden], environment: GoldenLogTests.kek)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported 347 events"), "\(imported.stdout)")
    }

    /// An export refused by its checks (here one whose event a forger changed, and one cut
    /// short) makes nothing in a database without the shared log: no schema, no key store, no
    /// log signing key. Before, the log's tables, the key store and its key were made first,
    /// and left behind by the refusal. The same database then takes the intact export.
    @Test func aRefusedImportMakesNothingInADatabaseWithoutTheLog() throws {
        let database = try SharedLogDatabase()
        let scratch = try Scratch()
        let shared = ["--log-url", database.url, "--data", scratch.at("node")]
        let lines = try String(contentsOfFile: Self.golden, encoding: .utf8).split(separator: "\n")
        let eventLine = try #require(lines.firstIndex { $0.contains("\"UserRegistered\"") })
        var forged = lines
        forged[eventLine] = Substring(
            lines[eventLine].replacingOccurrences(of: "\"correlation_id\":\"", with: "\"correlation_id\":\"x"))
        #expect(forged[eventLine] != lines[eventLine])
        let exports = [
            ("forged", forged.joined(separator: "\n") + "\n"),
            ("cut", lines.dropLast(lines.count / 2).joined(separator: "\n") + "\n"),
        ]
        for (name, text) in exports {
            let file = scratch.at("\(name).jsonl")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let refused = try authctl(shared + ["import", file], environment: GoldenLogTests.kek)
            #expect(refused.status == 2, "\(name): \(refused.stdout) \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("authctl: \(file), line "), "\(name): \(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(name): \(refused.stderr)")
            #expect(try database.authlogTables() == 0, "\(name): the refused import made tables")
        }
        let imported = try authctl(shared + ["import", Self.golden], environment: GoldenLogTests.kek)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("imported 347 events"), "\(imported.stdout)")
    }

    /// seed, verify and head on the shared log; a row changed behind the log's back breaks it
    /// (exit 1, naming the position).
    @Test func verifyOnTheSharedLogPassesThenNamesATamperedRow() throws {
        let database = try SharedLogDatabase.madeByInit()
        let scratch = try Scratch()
        let shared = ["--log-url", database.url, "--data", scratch.at("node")]
        let seeded = try authctl(shared + ["seed", "--users", "5", "--events", "40"], environment: GoldenLogTests.kek)
        #expect(seeded.status == 0, "\(seeded.stderr)")
        let verified = try authctl(shared + ["verify", "--json"], environment: GoldenLogTests.kek)
        #expect(verified.status == 0, "\(verified.stderr)")
        let report = json(Substring(verified.stdout.trimmingCharacters(in: .newlines)))
        #expect(report["signed"] as? Bool == true && report["events"] as? Int == 40, "\(verified.stdout)")

        let head = try authctl(shared + ["head"], environment: GoldenLogTests.kek)
        #expect(head.status == 0, "\(head.stderr)")
        let kept = scratch.at("head.json")
        try head.stdout.write(toFile: kept, atomically: true, encoding: .utf8)
        let publicKey = try #require(report["public_key"] as? String)
        // An auditor with the public key and the kept head only: no data directory at all.
        let audited = try authctl([
            "--log-url", database.url, "verify", "--public-key", publicKey, "--since-head", kept,
        ])
        #expect(audited.status == 0, "\(audited.stderr)")

        try TestPostgres.administer(
            "UPDATE authlog.events SET envelope = set_byte(envelope, 60, get_byte(envelope, 60) # 1) WHERE position = 7",
            database: database.name)
        let broken = try authctl(shared + ["verify"], environment: GoldenLogTests.kek)
        #expect(broken.status == 1, "\(broken.stdout) \(broken.stderr)")
        #expect(broken.stderr.contains("broken at position 7"), "\(broken.stderr)")
    }

    /// create-admin, users, history, stats, erase and rebuild on the shared log: without a
    /// data directory the reads run on a temporary copy that is gone afterwards; with one,
    /// on that directory's copy.
    @Test func adminUsersHistoryAndEraseWorkOnTheSharedLog() throws {
        let database = try SharedLogDatabase.madeByInit()
        let scratch = try Scratch()
        let home = scratch.at("home")
        let temporary = scratch.at("tmp")
        for directory in [home, temporary] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        // The keys are the shared database's, under the cluster's key-encryption key.
        func run(_ arguments: [String], input: String? = nil) throws -> ProcessOutput {
            try authctl(
                ["--log-url", database.url] + arguments,
                environment: GoldenLogTests.kek.merging(["TMPDIR": temporary]) { $1 }, input: input,
                directory: home)
        }
        let created = try run(["create-admin", "--email", "root@example.com"], input: "a long enough password\n")
        #expect(created.status == 0, "\(created.stderr)")
        let id = try #require(created.stdout.split(separator: " ").dropFirst(2).first.map(String.init))
        let twice = try run(["create-admin", "--email", "other@example.com"], input: "a long enough password\n")
        #expect(twice.status == 2 && twice.stderr.contains("an ADMIN exists already"), "\(twice.stderr)")

        let listed = try run(["users", "list", "--role", "ADMIN"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains(id) && listed.stdout.contains("root@example.com"), "\(listed.stdout)")
        let history = try run(["history", "root@example.com"])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("UserRegistered") && history.stdout.contains("RoleChanged"))
        // The copies were temporary: none left, and none in the default data directory.
        #expect(try FileManager.default.contentsOfDirectory(atPath: temporary).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: home + "/data/data.mdb"))

        // A named data directory keeps its copy and catches it up.
        let named = ["--data", home + "/data"]
        let stats = try run(named + ["stats", "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        let fields = json(Substring(stats.stdout.trimmingCharacters(in: .newlines)))
        #expect(fields["events"] as? Int == 3 && (fields["users_by_role"] as? [String: Int])?["ADMIN"] == 1)
        #expect(FileManager.default.fileExists(atPath: home + "/data/data.mdb"))

        let erased = try run(["erase", "root@example.com"])
        #expect(erased.status == 0, "\(erased.stderr)")
        let trail = try run(named + ["history", id])
        #expect(trail.status == 0, "\(trail.stderr)")
        #expect(trail.stdout.contains("UserErased") && !trail.stdout.contains("root@example.com"))
        let gone = try run(["users", "get", "root@example.com"])
        #expect(gone.status == 2, "\(gone.stdout)")

        let rebuilt = try run(named + ["rebuild"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("rebuilt users: 4 events"), "\(rebuilt.stdout)")
        let verified = try run(["verify"])
        #expect(verified.status == 0 && verified.stdout.contains("intact and signed: 4 events"), "\(verified.stderr)")
    }

    /// A named copy the shared log does not continue (the log was replaced) is refused by the
    /// commands that read it, in one line, and moved aside and copied again by `rebuild`.
    @Test func rebuildMovesAsideACopyTheSharedLogDoesNotContinue() throws {
        let (first, second) = (try SharedLogDatabase.madeByInit(), try SharedLogDatabase.madeByInit())
        let scratch = try Scratch()
        let data = scratch.at("data")
        func run(_ database: SharedLogDatabase, _ arguments: [String], input: String? = nil) throws -> ProcessOutput {
            try authctl(
                ["--log-url", database.url, "--data", data] + arguments, environment: GoldenLogTests.kek,
                input: input)
        }
        for (database, email) in [(first, "first@example.com"), (second, "second@example.com")] {
            // Straight to the shared log, without the named copy (which would refuse the second).
            let created = try authctl(
                ["--log-url", database.url, "create-admin", "--email", email], environment: GoldenLogTests.kek,
                input: "a long enough password\n", directory: scratch.at(""))
            #expect(created.status == 0, "\(created.stderr)")
            if database === first {
                #expect(try run(first, ["users", "list", "--role", "ADMIN"]).stdout.contains(email))
            }
        }
        let refused = try run(second, ["users", "list", "--role", "ADMIN"])
        #expect(refused.status == 2 && refused.stderr.contains("does not continue"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")

        let rebuilt = try run(second, ["rebuild"])
        #expect(rebuilt.status == 0 && rebuilt.stdout.contains("moved the copy"), "\(rebuilt.stdout) \(rebuilt.stderr)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: data).filter { $0.hasPrefix("diverged-") }
        #expect(aside.count == 1)
        let listed = try run(second, ["users", "list", "--role", "ADMIN"])
        #expect(listed.status == 0 && listed.stdout.contains("second@example.com"), "\(listed.stderr)")
        #expect(!listed.stdout.contains("first@example.com"))
    }

    /// authctl under the cluster's key-encryption key, given `password` on its input when
    /// it asks (create-admin), in `directory` if given.
    static func kekAuthctl(
        _ arguments: [String], password: String? = nil, in directory: String? = nil
    ) throws -> ProcessOutput {
        try authctl(arguments, environment: GoldenLogTests.kek, input: password.map { $0 + "\n" }, directory: directory)
    }

    /// A database without the shared log (a mistyped `--log-url`, say) is refused by every
    /// command but `init` and `import`, in one line that names it, and left as it was: no
    /// schema, no key store, no key made for it. Before, each command made the log's tables
    /// there, and the key store's with a new log signing key, and went on against an empty log.
    @Test func aDatabaseWithoutTheLogIsRefusedAndLeftAsItWas() throws {
        let database = try SharedLogDatabase()
        let scratch = try Scratch()
        let commands: [[String]] = [
            ["verify"], ["head"], ["export"], ["stats"], ["users", "list", "--role", "ADMIN"],
            ["seed", "--users", "2", "--events", "6"],
            ["create-admin", "--email", "root@example.com"], ["erase", UUID().uuidString],
            ["sign-head", "--head-hash", String(repeating: "0", count: 64)], ["--data", scratch.at("copy"), "rebuild"],
            [
                "--data", scratch.at("node"), "webhooks", "add", "https://hooks.example.com/in", "--events",
                "UserRegistered",
            ],
        ]
        for arguments in commands {
            let refused = try Self.kekAuthctl(
                ["--log-url", database.url] + arguments, password: "a long enough password", in: scratch.at(""))
            #expect(refused.status == 2, "\(arguments): \(refused.stdout)")
            let lines = refused.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(arguments): \(refused.stderr)")
            #expect(
                lines.first?.hasPrefix("authctl: no shared log in postgres://") == true
                    && refused.stderr.contains("authctl --log-url URL init"), "\(arguments): \(refused.stderr)")
            #expect(try database.authlogTables() == 0, "\(arguments) made tables")
        }
        let made = try authctl(["--log-url", database.url, "init"])
        #expect(made.status == 0 && made.stdout.hasSuffix(": 0 events\n"), "\(made.stdout) \(made.stderr)")
        #expect(try database.authlogTables() > 0)
    }

    /// On a shared log `init` made, before any node started, a command that only reads makes
    /// no key store: it would fix the cluster's key-encryption key with whatever key the
    /// operator has at hand (the nodes, with the cluster's, would then be refused), and make a
    /// log signing key. `webhooks add`, which seals under the store's key, is refused too. The
    /// first command that writes makes the store, as a node's first start would.
    @Test func aReadMakesNoKeyStore() throws {
        let database = try SharedLogDatabase.madeByInit()
        let scratch = try Scratch()
        func keyMetaRows() throws -> Int64 {
            let tables = try TestPostgres.count(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'authlog' AND tablename = 'key_meta'",
                database: database.name)
            return tables == 0
                ? 0 : try TestPostgres.count("SELECT count(*) FROM authlog.key_meta", database: database.name)
        }
        // verify checks the chain without the log's key; export needs the store.
        for arguments in [["verify"], ["export"], ["users", "list", "--role", "ADMIN"], ["stats"]] {
            let read = try Self.kekAuthctl(["--log-url", database.url] + arguments, in: scratch.at(""))
            #expect(try keyMetaRows() == 0, "\(arguments) made the key store: \(read.stderr)")
        }
        let added = try Self.kekAuthctl(
            [
                "--log-url", database.url, "--data", scratch.at("node"), "webhooks", "add",
                "https://hooks.example.com/in",
                "--events", "*",
            ])
        #expect(added.status == 2 && added.stderr.contains("holds no key store yet"), "\(added.stderr)")
        #expect(try keyMetaRows() == 0)
        let admin = try Self.kekAuthctl(
            ["--log-url", database.url, "create-admin", "--email", "root@example.com"],
            password: "a long enough password", in: scratch.at(""))
        #expect(admin.status == 0, "\(admin.stderr)")
        #expect(try keyMetaRows() == 1)
        let verified = try Self.kekAuthctl(["--log-url", database.url, "verify"])
        #expect(verified.status == 0, "\(verified.stderr)")
    }

    /// `init` with `--log-url` makes the shared log's tables and leaves the data directory
    /// alone (it made an embedded log there before); run again, it counts what the log holds.
    /// A write command on the shared log makes the data directory for its outbox 0700 (it
    /// was made 0755, as the outbox's parent).
    @Test func initWithTheSharedLogMakesItsTablesAndNoLocalLog() throws {
        let database = try SharedLogDatabase()
        let scratch = try Scratch()
        let node = scratch.at("node")
        let made = try authctl(["--log-url", database.url, "--data", node, "init"])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.hasPrefix("shared log ready at "), "\(made.stdout)")
        #expect(made.stdout.hasSuffix(": 0 events\n"), "\(made.stdout)")
        #expect(!FileManager.default.fileExists(atPath: node))
        #expect(try TestPostgres.count("SELECT count(*) FROM authlog.events", database: database.name) == 0)
        let admin = try Self.kekAuthctl(
            ["--log-url", database.url, "create-admin", "--email", "root@example.com"],
            password: "a long enough password", in: scratch.at(""))
        #expect(admin.status == 0, "\(admin.stderr)")
        let mode = try FileManager.default.attributesOfItem(atPath: scratch.at("data"))[.posixPermissions] as? Int
        #expect(mode == 0o700, "the data directory of a write on the shared log: \(String(mode ?? 0, radix: 8))")
        let events = try TestPostgres.count("SELECT count(*) FROM authlog.events", database: database.name)
        #expect(events > 0)
        let again = try authctl(["--log-url", database.url, "--data", node, "init"])
        #expect(again.status == 0 && again.stdout.hasSuffix(": \(events) events\n"), "\(again.stdout) \(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: node))
    }

    /// A node's directory opened without `--log-url` by a command that writes is refused in
    /// one line, before anything is written: the copy is written in its map, and LMDB's
    /// writers with and without one must not share it. Read-only commands still open it.
    @Test func aNodesCopyIsRefusedToAWriterWithoutTheSharedLog() throws {
        let database = try SharedLogDatabase.madeByInit()
        let scratch = try Scratch()
        let data = scratch.at("data")
        let copied = try Self.kekAuthctl(
            ["--log-url", database.url, "--data", data, "create-admin", "--email", "root@example.com"],
            password: "a long enough password")
        #expect(copied.status == 0, "\(copied.stderr)")
        // The named copy catches up.
        let stats = try Self.kekAuthctl(["--log-url", database.url, "--data", data, "stats", "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        let before = try FileManager.default.contentsOfDirectory(atPath: data).sorted()
        let log = try Data(contentsOf: URL(fileURLWithPath: data + "/data.mdb"))
        for arguments in [["create-admin", "--email", "other@example.com"], ["rebuild"]] {
            let refused = try Self.kekAuthctl(
                ["--data", data] + arguments, password: "a long enough password")
            #expect(refused.status == 2, "\(arguments): \(refused.stdout)")
            #expect(refused.stderr.contains("holds a log written by a cluster node"), "\(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).sorted() == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: data + "/data.mdb")) == log, "data.mdb was written")
        let verified = try Self.kekAuthctl(["--data", data, "verify"])
        // It opens the copy and checks the chain (its signatures need the log's public key here).
        #expect(verified.stdout.contains("intact: 3 events verified"), "\(verified.stdout) \(verified.stderr)")
        let listed = try Self.kekAuthctl([
            "--log-url", database.url, "--data", data, "users", "list", "--role", "ADMIN",
        ])
        #expect(listed.status == 0 && listed.stdout.contains("root@example.com"), "\(listed.stderr)")
        #expect(!listed.stdout.contains("other@example.com"))
    }

    /// An embedded log given to authctl with `--log-url` by mistake (the shared log does not
    /// continue it) is refused and left unmarked: it stays an embedded log, which writes on.
    @Test func anEmbeddedLogOpenedAsACopyByMistakeStaysEmbedded() throws {
        let database = try SharedLogDatabase.madeByInit()
        let scratch = try Scratch()
        let data = scratch.at("data")
        let embedded = try Self.kekAuthctl(
            ["--data", data, "create-admin", "--email", "root@example.com"], password: "a long enough password")
        #expect(embedded.status == 0, "\(embedded.stderr)")
        let shared = try Self.kekAuthctl(
            ["--log-url", database.url, "create-admin", "--email", "shared@example.com"],
            password: "a long enough password", in: scratch.at(""))
        #expect(shared.status == 0, "\(shared.stderr)")
        let mistaken = try Self.kekAuthctl([
            "--log-url", database.url, "--data", data, "users", "list", "--role", "ADMIN",
        ])
        #expect(mistaken.status == 2 && mistaken.stderr.contains("does not continue"), "\(mistaken.stderr)")
        let rebuilt = try Self.kekAuthctl(["--data", data, "rebuild"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let listed = try Self.kekAuthctl(["--data", data, "users", "list", "--role", "ADMIN"])
        #expect(listed.status == 0 && listed.stdout.contains("root@example.com"), "\(listed.stderr)")
    }
}
