import EventLog
import EventLogLMDB
import EventLogPostgres
import Foundation
import PostgresNIO
import PostgresTestSupport
import Synchronization
import Testing

/// A place a log lives for one test: a temporary directory, or a database of its own on the
/// test PostgreSQL server. It can open the log more than once (one at a time) and is removed
/// with everything in it at the end.
protocol LogStore: Sendable {
    func open(clock: @escaping @Sendable () -> Timestamp) throws -> any ClosableLog
    func remove()
}

/// A log the test closes when done.
protocol ClosableLog: EventLog {
    func close()
}

extension LMDBEventLog: ClosableLog {}
extension PostgresEventLog: ClosableLog {}

/// A backend of the `EventLog` protocol, as a test argument.
struct Backend: Sendable, CustomTestStringConvertible {
    let name: String
    let makeStore: @Sendable () throws -> any LogStore

    var testDescription: String { name }

    static let lmdb = Backend(name: "LMDB") { LMDBStore() }
    static let postgres = Backend(name: "PostgreSQL") { try PostgresStore() }

    /// LMDB always; PostgreSQL when the test server is configured, or when it must be (CI):
    /// then a missing server fails every PostgreSQL case instead of leaving them out.
    static let all: [Backend] = [.lmdb] + (TestPostgres.isExpected ? [.postgres] : [])
}

final class LMDBStore: LogStore {
    let path = NSTemporaryDirectory() + "authlog-conformance-" + UUID().uuidString

    func open(clock: @escaping @Sendable () -> Timestamp) throws -> any ClosableLog {
        try LMDBEventLog(directory: path, options: .init(clock: clock))
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A database of its own (`CREATE DATABASE` with a unique name), dropped at the end.
final class PostgresStore: LogStore {
    let database = "authlog_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    let url: String

    init() throws {
        url = TestPostgres.url(try TestPostgres.serverURL(), database: database)
        try TestPostgres.administer("CREATE DATABASE \(database)")
    }

    func open(clock: @escaping @Sendable () -> Timestamp) throws -> any ClosableLog {
        try PostgresEventLog(url: url, options: .init(clock: clock))
    }

    /// Runs `sql` in this database, as someone with access to it but not to the log's code.
    func tamper(_ sql: String) throws {
        try TestPostgres.administer(sql, database: database)
    }

    func remove() {
        try? TestPostgres.administer("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
    }
}

/// Opens a fresh log of `backend`, runs `body` with it, then closes it and removes its store.
func withLog<Result>(
    _ backend: Backend, clock: @escaping @Sendable () -> Timestamp = { Timestamp.now() },
    _ body: (any ClosableLog, any LogStore) async throws -> Result
) async throws -> Result {
    let store = try backend.makeStore()
    defer { store.remove() }
    let log = try store.open(clock: clock)
    defer { log.close() }
    return try await body(log, store)
}

func event(_ type: String = "TestEvent", _ text: String = "payload", actor: String = "system") -> NewEvent {
    NewEvent(
        type: type, schemaVersion: 1, metadata: EventMetadata(actor: actor, correlationID: "test"),
        payload: Array(text.utf8))
}

/// A clock that returns scripted times, one per call, then the last one.
final class ClockScript: Sendable {
    private let times: Mutex<[Int64]>
    init(_ times: [Int64]) { self.times = Mutex(times) }
    func next() -> Timestamp {
        Timestamp(microsecondsSince1970: times.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] })
    }
}

extension EventLog {
    /// Every event, in order.
    func all() throws -> [RecordedEvent] {
        try read(from: 1, limit: .max)
    }
}

extension ChainVerification {
    var isIntact: Bool {
        if case .intact = self { return true }
        return false
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
