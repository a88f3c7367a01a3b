import AuthDomain
import EventLog
import EventLogLMDB
import Foundation
import LogMirror
import PostgresTestSupport
import Projections
import ServiceTestSupport
import Testing

/// A node's copy that the shared log stops continuing (the log restored from an older backup,
/// then written again) is made again in place, and then answers as the shared log does.
@Suite(.enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct CopyAgainTests {
    @Test func aCopyTheSharedLogNoLongerContinuesIsMadeAgainFromIt() async throws {
        let node = try MirroredUserStatesTests.Node(divergence: .copyAgain)
        let backup = node.directory + ".dump"
        defer {
            node.finish()
            try? FileManager.default.removeItem(atPath: backup)
        }
        var users: [UUID] = []
        try await randomHistory(node.service, users: &users, seed: 41, steps: 60, emailPrefix: "a")
        let renamed = try await node.service.register(
            .init(email: "renamed@example.com", password: "a long password", firstName: "First", lastName: "Last"),
            correlationID: "t"
        ).id
        users.append(renamed)
        _ = try await node.service.updateProfile(
            of: renamed, firstName: "Before", lastName: nil, phone: nil, actor: .system, correlationID: "t")
        try TestPostgres.backUp(node.database.name, to: backup)

        // History the backup does not hold, copied and read (the read caches the renamed user).
        let lost = try await node.service.updateProfile(
            of: renamed, firstName: "Lost", lastName: nil, phone: nil, actor: .system, correlationID: "t")
        var lostUsers: [UUID] = []  // not the renamed user: its version stays the renamed one
        try await randomHistory(node.service, users: &lostUsers, seed: 42, steps: 60, emailPrefix: "lost")
        try node.mirror.catchUp()
        let queries = UserQueries(node.projection)
        #expect(try queries.user(id: renamed)?.firstName == "Lost")
        let copiedBefore = node.mirror.position

        // Restored, then written again: the renamed user's next version holds another name.
        try TestPostgres.restore(backup, into: node.database.name)
        let again = try await node.service.updateProfile(
            of: renamed, firstName: "Again", lastName: nil, phone: nil, actor: .system, correlationID: "t")
        #expect(again.version == lost.version, "the test needs one version with two histories")
        try node.mirror.catchUp()
        #expect(node.mirror.timesCopiedAgain == 1)
        #expect(node.mirror.position == (try node.shared.headPosition()))
        #expect(!node.mirror.isCopyingAgain)
        let read = try queries.user(id: renamed)?.firstName
        #expect(read == "Again", "a read served the copy made before")

        try await randomHistory(node.service, users: &users, seed: 43, steps: 60, emailPrefix: "again")
        try node.mirror.catchUp()
        #expect(node.mirror.timesCopiedAgain == 1)
        try MirroredUserStatesTests().expectSameAnswers(node, Array(Set(users + lostUsers)), "made again")

        // The old copy, as it stood, kept aside.
        let aside = try FileManager.default.contentsOfDirectory(atPath: node.directory).filter {
            $0.hasPrefix("diverged-")
        }
        #expect(aside.count == 1)
        let old = try LMDBEventLog(directory: node.directory + "/" + aside[0], options: .init(readOnly: true))
        defer { old.close() }
        #expect(try old.headPosition() == copiedBefore)
        let attributes = try FileManager.default.attributesOfItem(atPath: node.directory + "/" + aside[0])
        #expect((attributes[.posixPermissions] as? Int) == 0o700)

        // And the copy goes on from the shared log.
        try await randomHistory(node.service, users: &users, seed: 44, steps: 20, emailPrefix: "later")
        try node.mirror.catchUp()
        #expect(node.mirror.timesCopiedAgain == 1)
        try MirroredUserStatesTests().expectSameAnswers(node, users, "after")
        try MirroredUserStatesTests().expectSameClaims(
            node, prefixes: ["a", "lost", "again", "later"], steps: 60, "after")
    }
}
