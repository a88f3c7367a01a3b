import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import TestSupport
import Testing

/// The seeder writes a log the service could have written: chained, versioned, claimed and
/// sealed per user, with the users' histories interleaved.
@Suite(.ownThreads) struct SeederTests {
    let directory = NSTemporaryDirectory() + "authlog-seed-" + UUID().uuidString

    func seeded(users: Int, events: Int, window: Int) async throws -> (LMDBEventLog, KeyStore, Seeder.Report) {
        let log = try LMDBEventLog(directory: directory)
        let keys = try KeyStore(dataDirectory: directory, environment: [:])
        let report = try await Seeder(log: log, keys: keys).seed(users: users, events: events, window: window)
        return (log, keys, report)
    }

    /// Every event of the log, its personal part opened with its user's data key.
    func decodeAll(_ log: LMDBEventLog, _ keys: KeyStore) throws -> [(RecordedEvent, UserEvent)] {
        try log.read(from: 1, limit: .max).map { recorded in
            let key = try #require(try keys.dataKey(for: recorded.streamID))
            let event = try recorded.payload.withUnsafeBytes { payload in
                try UserEvent(type: recorded.type, schemaVersion: recorded.schemaVersion, payload: payload) { sealed in
                    try AESGCM.open(
                        sealed, key: key,
                        associatedData: UserEvent.sealingContext(
                            stream: recorded.streamID, version: recorded.streamVersion, type: recorded.type))
                }
            }
            return (recorded, event)
        }
    }

    @Test func seedsChainedSealedAndClaimedHistories() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (log, keys, report) = try await seeded(users: 30, events: 400, window: 8)
        defer { log.close() }
        #expect(report.users == 30 && report.events == 400)
        #expect(try log.headPosition() == 400)
        guard case .intact(let count, _, _) = try log.verify() else {
            Issue.record("chain broken")
            return
        }
        #expect(count == 400)

        var versions: [UUID: UInt64] = [:]
        var emails: [UUID: String] = [:]
        var kinds: Set<String> = []
        for (recorded, event) in try decodeAll(log, keys) {
            #expect(recorded.streamVersion == (versions[recorded.streamID] ?? 0) + 1)
            versions[recorded.streamID] = recorded.streamVersion
            kinds.insert(recorded.type)
            if case .registered(let registered) = event {
                #expect(registered.passwordHash.hasPrefix("$argon2id$"))
                emails[recorded.streamID] = registered.email
            }
        }
        #expect(emails.count == 30)
        #expect(Set(emails.values) == Set((0..<30).map { Seeder.email(number: $0) }))
        for (stream, email) in emails {
            #expect(try log.owner(of: try EmailAddress(email).claimKey, in: EmailAddress.claimScope) == stream)
        }
        #expect(kinds.contains("ProfileUpdated") && kinds.contains("UserRegistered"))
    }

    @Test func usersOfOneWindowInterleave() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (log, _, _) = try await seeded(users: 20, events: 400, window: 20)
        defer { log.close() }
        // After the registrations, three events each.
        let streams = try log.read(from: 61, limit: .max).map(\.streamID)
        let switches = zip(streams, streams.dropFirst()).filter { $0 != $1 }.count
        #expect(switches > streams.count / 2)
    }

    @Test func seedingTwiceIsRefusedByTheEmailClaims() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (log, keys, _) = try await seeded(users: 5, events: 15, window: 5)
        defer { log.close() }
        await #expect(throws: EventLogError.self) {
            _ = try await Seeder(log: log, keys: keys).seed(users: 5, events: 15, window: 5)
        }
        #expect(try log.headPosition() == 15)
    }

    @Test(arguments: [0, 7, 999_999]) func claimKeysAreTheParsedAddressesKeys(number: Int) throws {
        #expect(Seeder.claimKey(number: number) == (try EmailAddress(Seeder.email(number: number))).claimKey)
    }
}
