import EventLog
import EventLogLMDB
import EventLogPostgres
import Foundation
import PostgresTestSupport
import Signatures
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What only the PostgreSQL log has to show: the same bytes as the LMDB log, imports both
/// ways, several writers on one database, tampering found, signing, and its URL and schema.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct PostgresLogTests {
    let key = try! Ed25519Key(privateKey: [UInt8](repeating: 7, count: 32))

    /// A script of appends with fixed streams, payloads and times.
    func script(_ log: any EventLog) async throws {
        let streams = (0..<4).map { UUID(uuidString: "00000000-0000-4000-8000-00000000000\($0)")! }
        for index in 0..<40 {
            let outcomes = try await log.append([
                AppendRequest(
                    stream: streams[index % 4], expected: .any,
                    events: (0...(index % 3)).map { event("E\(index)", "payload \(index) \($0)") }),
                AppendRequest(stream: streams[0], expected: .noStream, events: [event("Refused")]),
            ])
            _ = try outcomes[0].get()
        }
    }

    func storedBytes(_ log: LMDBEventLog) throws -> [[UInt8]] {
        var stored: [[UInt8]] = []
        try log.forEachStoredEnvelope(from: 1, through: try log.headPosition()) { _, bytes in
            stored.append(Array(bytes))
        }
        return stored
    }

    func storedBytes(_ log: PostgresEventLog) throws -> [[UInt8]] {
        var stored: [[UInt8]] = []
        try log.forEachStoredEnvelope(from: 1, through: try log.headPosition()) { _, bytes in stored.append(bytes) }
        return stored
    }

    /// The scripted log's stored bytes (written to LMDB) and an empty PostgreSQL log to import
    /// them into, for `body`; both removed afterwards.
    func withExportAndEmptyLog(_ body: ([[UInt8]], PostgresEventLog) async throws -> Void) async throws {
        let lmdbStore = LMDBStore()
        defer { lmdbStore.remove() }
        let postgresStore = try PostgresStore()
        defer { postgresStore.remove() }
        let original = try LMDBEventLog(directory: lmdbStore.path)
        defer { original.close() }
        try await script(original)
        let postgres = try PostgresEventLog(url: postgresStore.url)
        defer { postgres.close() }
        try await body(try storedBytes(original), postgres)
    }

    @Test func theSameAppendsGiveTheSameBytesAndHashesAsTheLMDBLog() async throws {
        let clock: @Sendable () -> Timestamp = { Timestamp(microsecondsSince1970: 1_764_000_000_000_000) }
        let lmdbStore = LMDBStore()
        defer { lmdbStore.remove() }
        let postgresStore = try PostgresStore()
        defer { postgresStore.remove() }
        let lmdb = try LMDBEventLog(directory: lmdbStore.path, options: .init(clock: clock))
        defer { lmdb.close() }
        let postgres = try PostgresEventLog(url: postgresStore.url, options: .init(clock: clock))
        defer { postgres.close() }
        try await script(lmdb)
        try await script(postgres)
        #expect(try postgres.headPosition() == 79)
        #expect(try postgres.all() == lmdb.all())
        #expect(try storedBytes(postgres) == storedBytes(lmdb))
        #expect(try postgres.headHash() == lmdb.headHash())
        #expect(try postgres.verify() == lmdb.verify())
    }

    @Test func aLogImportsFromOneBackendIntoTheOtherWithIdenticalBytes() async throws {
        let lmdbStore = LMDBStore()
        defer { lmdbStore.remove() }
        let postgresStore = try PostgresStore()
        defer { postgresStore.remove() }
        let backStore = LMDBStore()
        defer { backStore.remove() }
        let original = try LMDBEventLog(directory: lmdbStore.path)
        defer { original.close() }
        try await script(original)
        let exported = try storedBytes(original)

        let postgres = try PostgresEventLog(url: postgresStore.url)
        defer { postgres.close() }
        try postgres.importStored(Array(exported[0..<30]))
        try postgres.importStored(Array(exported[30...]))
        #expect(try storedBytes(postgres) == exported)
        #expect(try postgres.all() == original.all())
        #expect(try postgres.verify().isIntact)
        // It goes on from the imported head, and the stream versions it imported.
        let stream = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
        let next = try await postgres.append(
            [event()], to: stream, expecting: .exactly(try original.currentVersion(of: stream)))
        #expect(next.firstPosition == 80)

        let back = try LMDBEventLog(directory: backStore.path)
        defer { back.close() }
        let again = try storedBytes(postgres)
        try back.importStored(again)
        #expect(try storedBytes(back) == again)
        #expect(try back.verify().isIntact)
    }

    @Test func anImportThatDoesNotContinueTheLogWritesNothing() async throws {
        try await withExportAndEmptyLog { exported, postgres in
            var exported = exported
            #expect(throws: EventLogError.corrupt(position: 2, detail: "expected position 1 next")) {
                try postgres.importStored(Array(exported[1...]))
            }
            exported[5][40] ^= 1
            #expect(throws: EventLogError.corrupt(position: 6, detail: "the hash chain breaks here")) {
                try postgres.importStored(exported)
            }
            let head = try postgres.headPosition()
            let events = try postgres.all()
            #expect(head == 0 && events.isEmpty)
        }
    }

    /// A restore is one transaction: its imports continue each other's head, and a part that
    /// failed rolls all of it back, even when the body catches the error and returns.
    @Test func aRestoreCommitsWholeOrNotAtAll() async throws {
        try await withExportAndEmptyLog { exported, postgres in
            var refusals = 0
            do {
                try postgres.restoring { restore in
                    try restore.importStored(Array(exported[0..<30]))
                    // Not the next position: refused, and caught here.
                    do { try restore.importStored(Array(exported[31...])) } catch { refusals += 1 }
                    // A later part fails at once.
                    do { try restore.importStored(Array(exported[30...])) } catch { refusals += 1 }
                }
                Issue.record("a restore with a failed part committed")
            } catch {
                #expect(error is EventLogError, "\(error)")
            }
            #expect(refusals == 2)
            #expect(try postgres.headPosition() == 0)
            #expect(try postgres.all().isEmpty)

            try postgres.restoring { restore in
                try restore.importStored(Array(exported[0..<30]))
                try restore.importStored(Array(exported[30...]))
            }
            #expect(try storedBytes(postgres) == exported)
            #expect(try postgres.verify().isIntact)
        }
    }

    /// Two logs on one database, as two processes would have: the head row orders them.
    @Test func twoWritersOnOneDatabaseKeepPositionsDense() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let first = try PostgresEventLog(url: store.url)
        defer { first.close() }
        let second = try PostgresEventLog(url: store.url)
        defer { second.close() }
        let shared = UUID()
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for index in 0..<400 {
                let log = index % 2 == 0 ? first : second
                group.addTask {
                    if index % 4 < 2 {
                        return try await log.append([event("Own", "\(index)")], to: UUID(), expecting: .noStream)
                    }
                    return try await log.append([event("Shared", "\(index)")], to: shared, expecting: .any)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results.map(\.lastPosition)) == Set(1...400))
        #expect(try first.all().map(\.position) == Array(1...400))
        #expect(try second.readStream(shared, from: 1).map(\.streamVersion) == Array(1...200))
        #expect(try first.verify().isIntact)
        // An expectation met through one log is checked against what the other wrote.
        await #expect(throws: EventLogError.conflict(stream: shared, expected: .exactly(199), actual: 200)) {
            try await first.append([event()], to: shared, expecting: .exactly(199))
        }
        _ = try await second.append([event()], to: shared, expecting: .exactly(200))
    }

    /// A log remembers the versions its own commits left; once another log on the database
    /// appended, it reads them again rather than trusting what it remembers.
    @Test func aRememberedVersionIsReadAgainAfterAnotherWriterAppended() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let first = try PostgresEventLog(url: store.url)
        defer { first.close() }
        let second = try PostgresEventLog(url: store.url)
        defer { second.close() }
        let stream = UUID()
        _ = try await first.append([event()], to: stream, expecting: .noStream)
        _ = try await first.append([event()], to: stream, expecting: .exactly(1))
        _ = try await second.append([event("Other")], to: stream, expecting: .exactly(2))
        await #expect(throws: EventLogError.conflict(stream: stream, expected: .exactly(2), actual: 3)) {
            try await first.append([event()], to: stream, expecting: .exactly(2))
        }
        let next = try await first.append([event()], to: stream, expecting: .exactly(3))
        #expect(next.streamVersion == 4 && next.firstPosition == 4)
        #expect(try first.readStream(stream, from: 1).map(\.streamVersion) == [1, 2, 3, 4])
    }

    @Test func changedRemovedAndMisfiledRowsAreFound() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        let stream = UUID()
        for _ in 0..<6 { _ = try await log.append([event()], to: stream, expecting: .any) }
        #expect(try log.verify() == .intact(count: 6, through: 6, head: try log.headHash()))

        try store.tamper("UPDATE authlog.events SET stream_version = 99 WHERE position = 2")
        #expect(
            try log.verify()
                == .broken(
                    ChainBreak(
                        position: 2, reason: .misfiled("the stream columns name it for another stream or version"))))
        #expect(throws: EventLogError.self) { try log.readStream(stream, from: 1) }
        try store.tamper("UPDATE authlog.events SET stream_version = 2 WHERE position = 2")

        // A payload byte changed: the envelope's last byte before the hash.
        try store.tamper(
            "UPDATE authlog.events SET envelope = set_byte(envelope, length(envelope) - 33, 65) WHERE position = 4")
        #expect(try log.verify() == .broken(ChainBreak(position: 4, reason: .hashMismatch)))
        #expect(try log.verify(from: 1, through: 3).isIntact)

        try store.tamper("DELETE FROM authlog.events WHERE position >= 4")
        #expect(try log.verify() == .broken(ChainBreak(position: 4, reason: .truncated(recordedHead: 6))))
        try store.tamper("UPDATE authlog.head SET position = 2")
        #expect(try log.verify() == .broken(ChainBreak(position: 3, reason: .pastHead(recordedHead: 2))))
    }

    /// The head's time is the earliest the next commit's events may take. Rewritten to a far
    /// future by someone with the database but not the key, every later event would carry it,
    /// signed: the writer refuses its next commit, a writer starting refuses the log, and
    /// `verify` names the head.
    @Test func aHeadTimeRewrittenWithoutTheKeyIsRefusedAndFound() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        try log.startSigning(with: key)
        for _ in 0..<3 { _ = try await log.append([event()], to: UUID(), expecting: .noStream) }
        try store.tamper("UPDATE authlog.head SET recorded_at = \(Int64(1) << 58)")  // about the year 11,100
        await #expect(throws: EventLogError.headTimeRewritten) {
            _ = try await log.append([event()], to: UUID(), expecting: .noStream)
        }
        #expect(try log.verifySignatures(key: key) == .broken(ChainBreak(position: 3, reason: .headTimeMismatch)))
        let starting = try PostgresEventLog(url: store.url)
        defer { starting.close() }
        #expect(throws: EventLogError.headTimeRewritten) { try starting.startSigning(with: key) }
    }

    /// The same on a log written before signing: the plain chain check names it, and adopting
    /// the log refuses to sign that time.
    @Test func anUnsignedLogsHeadTimeRewrittenIsFoundAndNotAdopted() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        for _ in 0..<3 { _ = try await log.append([event()], to: UUID(), expecting: .noStream) }
        try store.tamper("UPDATE authlog.head SET recorded_at = \(Int64(1) << 58)")
        #expect(try log.verify() == .broken(ChainBreak(position: 3, reason: .headTimeMismatch)))
        #expect(throws: EventLogError.headTimeRewritten) { try log.startSigning(with: key, adoptUnsigned: true) }
    }

    @Test func aSigningLogSignsEveryHeadAndAWriterWithoutTheKeyIsFound() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let signer = try PostgresEventLog(url: store.url)
        try signer.startSigning(with: key)
        for index in 0..<5 { _ = try await signer.append([event("E", "\(index)")], to: UUID(), expecting: .noStream) }
        // One call crossing the interval spacing keeps an interval checkpoint too.
        _ = try await signer.append(
            (0..<5).map { _ in
                AppendRequest(
                    stream: UUID(), expected: .noStream, events: [NewEvent](repeating: event(), count: 1_000))
            })
        guard case .signed(let count, let head, let intervals) = try signer.verifySignatures(key: key) else {
            Issue.record("expected a signed log, got \(try signer.verifySignatures(key: key))")
            return
        }
        #expect(count == 5_005 && head.position == 5_005 && head.isSigned(by: key) && intervals >= 1)
        #expect(try signer.headCheckpoint() == head)
        signer.close()

        let other = try Ed25519Key(privateKey: [UInt8](repeating: 9, count: 32))
        let reopened = try PostgresEventLog(url: store.url)
        #expect(throws: EventLogError.self) { try reopened.startSigning(with: other) }
        _ = try await reopened.append([event("Forged")], to: UUID(), expecting: .noStream)
        #expect(
            try reopened.verifySignatures(key: key)
                == .broken(ChainBreak(position: 5_006, reason: .unsignedTail(signedThrough: 5_005))))
        #expect(throws: EventLogError.self) { try reopened.startSigning(with: key) }
        reopened.close()
    }

    /// Appends through `log` and expects the append refused as a cut or replaced log
    /// (`checkpointRefused`), its detail containing `text`.
    func expectAppendRefused(_ log: PostgresEventLog, saying text: String) async throws {
        do {
            _ = try await log.append([event("After")], to: UUID(), expecting: .noStream)
            Issue.record("a writer appended on a log that no longer holds what it saw (\(text))")
        } catch EventLogError.checkpointRefused(let detail) {
            #expect(detail.contains(text), "\(detail)")
        }
    }

    /// A new database with a writer signing with ``key``, and a path for a backup of it;
    /// all removed afterwards.
    func withSigningWriterAndABackupFile(
        _ body: (PostgresStore, PostgresEventLog, String) async throws -> Void
    ) async throws {
        let store = try PostgresStore()
        let backup = NSTemporaryDirectory() + "authlog-backup-" + UUID().uuidString
        defer {
            store.remove()
            try? FileManager.default.removeItem(atPath: backup)
        }
        let writer = try PostgresEventLog(url: store.url)
        defer { writer.close() }
        try writer.startSigning(with: key)
        try await body(store, writer, backup)
    }

    /// A writer that saw the log up to a head refuses to sign on a log that no longer holds
    /// that head, even once the log has grown past it: the database restored from an older
    /// backup, then written by a writer that saw nothing before (a node started afterwards).
    /// On the code before, only the positions were compared, and the append went through.
    @Test func aWriterRefusesALogReplacedBehindItEvenOnceItGrewPastWhatItSaw() async throws {
        try await withSigningWriterAndABackupFile { store, first, backup in
            for index in 0..<3 {
                _ = try await first.append([event("Kept", "\(index)")], to: UUID(), expecting: .noStream)
            }
            try TestPostgres.backUp(store.database, to: backup)
            for index in 0..<3 {
                _ = try await first.append([event("Lost", "\(index)")], to: UUID(), expecting: .noStream)
            }
            #expect(try first.headPosition() == 6)

            try TestPostgres.restore(backup, into: store.database)
            let second = try PostgresEventLog(url: store.url)
            defer { second.close() }
            try second.startSigning(with: key)
            for index in 0..<5 {
                _ = try await second.append([event("New", "\(index)")], to: UUID(), expecting: .noStream)
            }
            #expect(try second.headPosition() == 8)

            // The first writer saw position 6 of the old history; the log now holds another one.
            try await expectAppendRefused(first, saying: "no longer holds the head this process saw at position 6")
            #expect(try second.headPosition() == 8)
            guard case .signed(count: 8, _, _) = try second.verifySignatures(key: key) else {
                Issue.record("expected a signed log of 8 events, got \(try second.verifySignatures(key: key))")
                return
            }
            // The writer that saw only this history goes on.
            _ = try await second.append([event("Goes on")], to: UUID(), expecting: .noStream)
            #expect(try second.headPosition() == 9)
        }
    }

    /// A writer that saw the log hold events refuses it emptied (the database restored from a
    /// backup taken before the first event).
    @Test func aWriterRefusesALogEmptiedBehindIt() async throws {
        try await withSigningWriterAndABackupFile { store, first, backup in
            try TestPostgres.backUp(store.database, to: backup)
            for index in 0..<3 {
                _ = try await first.append([event("Lost", "\(index)")], to: UUID(), expecting: .noStream)
            }
            try TestPostgres.restore(backup, into: store.database)
            try await expectAppendRefused(first, saying: "emptied behind this process, which saw it at position 3")
            #expect(try first.headPosition() == 0)
        }
    }

    /// Two signing writers on one database, their batches pipelined: each commit checks the
    /// head the other signed, and the chain hash at the head it saw itself; none is refused.
    @Test func twoSigningWritersNeverRefuseEachOther() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let first = try PostgresEventLog(url: store.url)
        defer { first.close() }
        try first.startSigning(with: key)
        let second = try PostgresEventLog(url: store.url)
        defer { second.close() }
        try second.startSigning(with: key)
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for index in 0..<400 {
                let log = index % 2 == 0 ? first : second
                group.addTask { try await log.append([event("Own", "\(index)")], to: UUID(), expecting: .noStream) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(results.map(\.lastPosition)) == Set(1...400))
        guard case .signed(count: 400, _, _) = try first.verifySignatures(key: key) else {
            Issue.record("expected a signed log of 400 events, got \(try first.verifySignatures(key: key))")
            return
        }
    }

    @Test func anUnsignedLogIsSignedOnlyWhenAdopted() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        _ = try await log.append([event()], to: UUID(), expecting: .noStream)
        #expect(throws: EventLogError.unsignedLog(events: 1)) { try log.startSigning(with: key) }
        guard case .unsigned(count: 1, through: 1, _) = try log.verifySignatures(key: key) else {
            Issue.record("expected an unsigned log")
            return
        }
        try log.startSigning(with: key, adoptUnsigned: true)
        _ = try await log.append([event()], to: UUID(), expecting: .noStream)
        guard case .signed(count: 2, _, _) = try log.verifySignatures(key: key) else {
            Issue.record("expected a signed log")
            return
        }
    }

    /// A connection the server drops fails at most the batch on it; the log connects again.
    @Test func aDroppedConnectionIsReplaced() async throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let log = try PostgresEventLog(url: store.url)
        defer { log.close() }
        _ = try await log.append([event()], to: UUID(), expecting: .noStream)
        #expect(try log.headPosition() == 1)
        try TestPostgres.administer(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(store.database)'")
        // Until the server's side of both connections is gone (a bounded wait).
        for _ in 0..<100 {
            let left = try TestPostgres.count(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '\(store.database)'")
            if left == 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        var acknowledged: UInt64 = 1
        for _ in 0..<3 {
            do {
                _ = try await log.append([event()], to: UUID(), expecting: .noStream)
                acknowledged += 1
            } catch let error as EventLogError {
                guard case .writeFailed = error else {
                    Issue.record("expected writeFailed, got \(error)")
                    return
                }
            }
        }
        #expect(acknowledged >= 3)
        var head: UInt64?
        for _ in 0..<3 where head == nil { head = try? log.headPosition() }
        #expect(head == acknowledged)
        #expect(try log.verify().isIntact)
    }

    @Test func aURLItCannotUseIsRefusedWithoutEchoingItsPassword() throws {
        for url in [
            "mysql://user@localhost/db", "postgres://localhost:5432/db", "postgres://user:s3cret@localhost:5432/",
            "postgres://user:s3cret@localhost/db?sslmode=verify-full", "not a url",
        ] {
            let error = #expect(throws: EventLogError.self) { _ = try PostgresEventLog(url: url) }
            guard case .storage(let detail) = error else {
                Issue.record("expected a storage error for \(url), got \(String(describing: error))")
                continue
            }
            #expect(!detail.contains("s3cret"))
        }
        let (_, location) = try PostgresEventLog.configuration(url: "postgresql://me:s3cret@db.internal/authlog")
        #expect(location == "postgres://me@db.internal:5432/authlog")
    }

    @Test func aURLIsDecodedOnceSoAPercentInAPasswordStaysItself() throws {
        // The password "p%41x%zz" spelled in a URL: "%" is "%25".
        let (configuration, _) = try PostgresEventLog.configuration(
            url: "postgres://me:p%2541x%25zz@db.internal/auth%2Dlog")
        #expect(configuration.password == "p%41x%zz")
        #expect(configuration.username == "me")
        #expect(configuration.database == "auth-log")
    }

    @Test func aServerThatIsNotThereIsAClearError() throws {
        // A port on loopback that nothing listens on: bound, then closed, by this test.
        let port = try unusedLoopbackPort()
        let error = #expect(throws: EventLogError.self) {
            _ = try PostgresEventLog(url: "postgres://postgres@127.0.0.1:\(port)/authlog")
        }
        guard case .storage(let detail) = error else {
            Issue.record("expected a storage error, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("cannot reach PostgreSQL"))
    }

    @Test func aSchemaItDidNotWriteIsRefused() throws {
        let newer = try PostgresStore()
        defer { newer.remove() }
        try newer.tamper("CREATE SCHEMA authlog")
        try newer.tamper("CREATE TABLE authlog.meta (key text PRIMARY KEY, value text NOT NULL)")
        try newer.tamper("INSERT INTO authlog.meta VALUES ('format', 'authlog.eventlog/2')")
        #expect(
            throws: EventLogError.newerFormat(
                path: location(newer), found: "authlog.eventlog/2", supported: "authlog.eventlog/1")
        ) {
            _ = try PostgresEventLog(url: newer.url)
        }
        let foreign = try PostgresStore()
        defer { foreign.remove() }
        try foreign.tamper("CREATE SCHEMA authlog")
        try foreign.tamper("CREATE TABLE authlog.meta (key text PRIMARY KEY, value text NOT NULL)")
        try foreign.tamper("INSERT INTO authlog.meta VALUES ('format', 'someone.else/1')")
        #expect(throws: EventLogError.foreignDatabase(path: location(foreign), found: "someone.else/1")) {
            _ = try PostgresEventLog(url: foreign.url)
        }
    }

    /// Told not to create the log, opening a database without one fails with `noLog` and
    /// leaves the database without the schema; a log made meanwhile then opens as usual.
    @Test func aDatabaseWithoutTheLogIsLeftAsItWasWhenToldNotToCreateIt() throws {
        let empty = try PostgresStore()
        defer { empty.remove() }
        #expect(throws: EventLogError.noLog(path: location(empty))) {
            _ = try PostgresEventLog(url: empty.url, options: .init(createIfMissing: false))
        }
        #expect(
            try TestPostgres.count(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'authlog'",
                database: empty.database) == 0)
        try PostgresEventLog(url: empty.url).close()
        let reopened = try PostgresEventLog(url: empty.url, options: .init(createIfMissing: false))
        defer { reopened.close() }
        #expect(try reopened.headPosition() == 0)
    }

    func location(_ store: PostgresStore) -> String {
        (try? PostgresEventLog.configuration(url: store.url).location) ?? ""
    }
}

/// Fails when CI requires the PostgreSQL tests and no server was given; left out otherwise.
@Test(.enabled(if: TestPostgres.isRequired, "AUTHLOG_REQUIRE_POSTGRES is not set"))
func theTestPostgreSQLServerIsThere() throws {
    #expect(TestPostgres.url != nil, Comment(rawValue: TestPostgres.missing))
    try TestPostgres.administer("SELECT 1")
}

/// A TCP port on 127.0.0.1 that nothing listens on (the kernel's choice, released at once).
func unusedLoopbackPort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(socket, raw, length) == 0 && getsockname(socket, raw, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
    return Int(UInt16(bigEndian: address.sin_port))
}
