import EventLog
import EventLogPostgres
import Foundation
import PostgresNIO
import PostgresTestSupport
import TestSupport
import Testing

/// The statements the writer and the copies run prepared: their rows read as a plain query's
/// do, and each connection prepares its own.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct PreparedSQLTests {
    let echo = PreparedSQL(
        name: "authlog_test_echo", sql: "SELECT $1::bigint, $2::uuid, $3::bytea, $4::bytea, $5::bigint[], $6::uuid[]")

    func server(_ store: PostgresStore) throws -> PostgresServer {
        let (configuration, location) = try PostgresEventLog.configuration(url: store.url)
        return PostgresServer(configuration: configuration, location: location)
    }

    /// Every column type the log reads, NULL included, comes back from a prepared statement as
    /// from the same values in a plain query. (postgres-nio labels a prepared statement's
    /// columns text though it asked for and got binary: read as labelled, a bigint failed.)
    @Test func aPreparedStatementsRowReadsAsAPlainQuerysRow() throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let server = try server(store)
        let connection = try server.connect()
        defer { _ = try? connection.close().wait() }
        let id = UUID()
        let ids = [UUID(), UUID()]
        let bytes = ByteBuffer(bytes: [0, 1, 2, 255])
        let numbers: [Int64] = [1, -2, Int64.max]
        let prepared = try connection.run(
            try server.prepared(echo, on: connection),
            [
                PostgresData(binary: Int64(-42)), PostgresData(binary: id), PostgresData(binary: bytes),
                PostgresData(binaryOrNull: ByteBuffer?.none), PostgresData(binary: numbers), PostgresData(binary: ids),
            ])
        let plain = try connection.run(
            "SELECT \(Int64(-42))::bigint, \(id)::uuid, \(bytes)::bytea, NULL::bytea, \(numbers)::bigint[], \(ids)::uuid[]"
        )
        for rows in [prepared, plain] {
            #expect(rows.count == 1)
            let row = try #require(rows.first)
            let (number, uuid, data, null, array, uuids) = try row.columns(
                (Int64, UUID, ByteBuffer, ByteBuffer?, [Int64], [UUID]).self)
            #expect(number == -42)
            #expect(uuid == id)
            #expect(data == bytes)
            #expect(null == nil)
            #expect(array == numbers)
            #expect(uuids == ids)
            // A reader expecting another number of columns is told so, never given a part.
            #expect(throws: EventLogError.self) { _ = try row.columns((Int64, UUID).self) }
        }
    }

    /// A statement is prepared on each connection once; a closed connection's are forgotten,
    /// and the next connection prepares its own.
    @Test func eachConnectionPreparesItsOwnAndAClosedOneIsForgotten() throws {
        let store = try PostgresStore()
        defer { store.remove() }
        let server = try server(store)
        let first = try server.connect()
        defer { _ = try? first.close().wait() }
        for _ in 0..<3 { _ = try server.prepared(echo, on: first) }
        let preparedThere = try first.run(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%$6::uuid[]%'")
        #expect(try preparedThere.first?.column(Int64.self) == 1)
        #expect(server.connectionsWithPreparedStatements == 1)
        try first.close().wait()
        // The clean-up was registered on the close before this wait's own callback.
        try first.closeFuture.wait()
        #expect(server.connectionsWithPreparedStatements == 0)
        let second = try server.connect()
        defer { _ = try? second.close().wait() }
        let rows = try second.run(
            try server.prepared(echo, on: second),
            [
                PostgresData(binary: Int64(7)), PostgresData(binary: UUID()), PostgresData(binary: ByteBuffer()),
                PostgresData(binaryOrNull: ByteBuffer?.none), PostgresData(binary: [Int64]()),
                PostgresData(binary: [UUID]()),
            ])
        let row = try #require(rows.first)
        let (number, _, _, _, _, _) = try row.columns((Int64, UUID, ByteBuffer, ByteBuffer?, [Int64], [UUID]).self)
        #expect(number == 7)
        #expect(server.connectionsWithPreparedStatements == 1)
    }

    /// A prepared statement's failure is named as a plain query's is: by its SQLSTATE, and a
    /// full disk as such (postgres-nio fails prepared statements with its older error type,
    /// which was taken for an unknown failure and lost both).
    @Test func aPreparedStatementsFailureKeepsItsSQLSTATE() throws {
        let store = try PostgresStore()
        defer { store.remove() }
        try store.tamper(
            """
            CREATE FUNCTION authlog_test_full() RETURNS int LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END $$
            """)
        let server = try server(store)
        let connection = try server.connect()
        defer { _ = try? connection.close().wait() }
        let full = PreparedSQL(name: "authlog_test_full", sql: "SELECT authlog_test_full()")
        let division = PreparedSQL(name: "authlog_test_division", sql: "SELECT 1 / $1::bigint")
        let fullError = #expect(throws: EventLogError.self) {
            _ = try connection.run(try server.prepared(full, on: connection), [])
        }
        guard case .storageFull(let detail) = fullError else {
            Issue.record("expected storageFull, got \(String(describing: fullError))")
            return
        }
        #expect(detail.contains("SQLSTATE 53100"))
        let divisionError = #expect(throws: EventLogError.self) {
            _ = try connection.run(try server.prepared(division, on: connection), [PostgresData(binary: Int64(0))])
        }
        guard case .storage(let divisionDetail) = divisionError else {
            Issue.record("expected a storage error, got \(String(describing: divisionError))")
            return
        }
        #expect(divisionDetail.contains("SQLSTATE 22012"))
    }
}
