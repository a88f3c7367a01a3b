import AuthDomain
import EventLog
import EventLogLMDB
import Foundation
import LogMirror
import PostgresTestSupport
import Projections
import ServiceTestSupport
import Synchronization
import TestSupport
import Testing

/// A node's copy that the shared log stops continuing (the log restored from an older backup,
/// then written again) is made again in place, and then answers as the shared log does.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct CopyAgainTests {
    /// A node whose shared log signs its heads and whose mirror checks them, and where to
    /// keep a backup of its database.
    static func signedNode() throws -> (MirroredUserStatesTests.Node, backup: String) {
        let node = try MirroredUserStatesTests.Node(divergence: .copyAgain, signed: true)
        return (node, node.directory + ".dump")
    }

    /// A random history, a backup of the shared database, more history, all copied; returns
    /// the users.
    static func historyAroundABackup(
        _ node: MirroredUserStatesTests.Node, _ backup: String, seed: UInt64
    ) async throws -> [UUID] {
        var users: [UUID] = []
        try await randomHistory(node.service, users: &users, seed: seed, steps: 40, emailPrefix: "a")
        try TestPostgres.backUp(node.database.name, to: backup)
        try await randomHistory(node.service, users: &users, seed: seed + 1, steps: 40, emailPrefix: "b")
        try node.mirror.catchUp()
        return users
    }

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
        // The console's search index, built on the copy as it stands.
        let index = UserDirectoryIndex(node.projection)
        var lostSearch = DirectoryQuery()
        lostSearch.text = "userlost"
        #expect(try index.search(lostSearch).total > 0)

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

        // Written on until the new history is longer than the old: the index's checkpoint and
        // generation alone would then let it keep the old history's users.
        var seed: UInt64 = 43
        while try node.shared.headPosition() <= copiedBefore {
            try await randomHistory(node.service, users: &users, seed: seed, steps: 60, emailPrefix: "again\(seed)")
            seed += 1
        }
        try node.mirror.catchUp()
        #expect(node.mirror.timesCopiedAgain == 1)
        #expect(try index.search(lostSearch).total == 0, "the search index kept users of the old history")
        var newSearch = DirectoryQuery()
        newSearch.text = "useragain"
        #expect(try index.search(newSearch).total > 0, "the search index misses users of the new history")
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
            node, prefixes: ["a", "lost", "later"] + (43..<seed).map { "again\($0)" }, steps: 60, "after")
    }

    /// A shared log cut back behind its own back to a position no signed head names (events
    /// deleted, the head row moved) is not adopted: the copy stays as it was and waits for
    /// positions, and is made again once the shared log is one its key signed (a real backup
    /// restored).
    @Test func aSharedLogCutWhereNoSignedHeadIsIsNotCopied() async throws {
        let (node, backup) = try Self.signedNode()
        defer {
            node.finish()
            try? FileManager.default.removeItem(atPath: backup)
        }
        let users = try await Self.historyAroundABackup(node, backup, seed: 51)
        let copied = node.mirror.position
        let cut = copied - 5
        try TestPostgres.administer("DELETE FROM authlog.events WHERE position > \(cut)", database: node.database.name)
        try TestPostgres.administer(
            """
            UPDATE authlog.head SET position = \(cut),
              hash = (SELECT substring(envelope FROM length(envelope) - 31) FROM authlog.events WHERE position = \(cut))
            """, database: node.database.name)

        for attempt in 1...2 {
            do {
                try node.mirror.catchUp()
                Issue.record("attempt \(attempt): a history no signed head names was copied")
            } catch let failure as LogMirror.Failure {
                guard case .unsigned = failure else {
                    Issue.record("attempt \(attempt): \(failure)")
                    continue
                }
            }
        }
        #expect(node.mirror.isCopyingAgain && node.mirror.position == 0 && node.mirror.timesCopiedAgain == 0)
        #expect(try node.local.headPosition() == copied, "the copy was replaced")

        try TestPostgres.restore(backup, into: node.database.name)
        try node.mirror.catchUp()
        #expect(node.mirror.timesCopiedAgain == 1 && !node.mirror.isCopyingAgain)
        #expect(node.mirror.position == (try node.shared.headPosition()))
        #expect(node.mirror.position < cut)
        try MirroredUserStatesTests().expectSameAnswers(node, users, "restored")
    }

    /// An event of the shared log changed behind its back, after the copy's head: the copy is
    /// not made again (it would meet the same event), nothing from that event on is copied,
    /// and once the event is mended the copy goes on where it was.
    @Test func aSharedLogBrokenAfterTheCopysHeadIsNotAReasonToMakeTheCopyAgain() async throws {
        let node = try MirroredUserStatesTests.Node(divergence: .copyAgain, signed: true)
        defer { node.finish() }
        var users: [UUID] = []
        try await randomHistory(node.service, users: &users, seed: 61, steps: 40, emailPrefix: "a")
        try node.mirror.catchUp()
        let copied = node.mirror.position
        try await randomHistory(node.service, users: &users, seed: 62, steps: 40, emailPrefix: "b")
        let flip = """
            UPDATE authlog.events SET envelope = set_byte(envelope, length(envelope) - 33,
              get_byte(envelope, length(envelope) - 33) # 1) WHERE position = \(copied + 2)
            """
        try TestPostgres.administer(flip, database: node.database.name)
        do {
            try node.mirror.catchUp()
            Issue.record("a broken shared log was copied")
        } catch let failure as LogMirror.Failure {
            guard case .broken(let position, _) = failure else {
                Issue.record("\(failure)")
                return
            }
            #expect(position == copied + 2)
        }
        #expect(!node.mirror.isCopyingAgain && node.mirror.timesCopiedAgain == 0)
        let localHead = try node.local.headPosition()
        #expect(node.mirror.position == copied && localHead == copied)

        try TestPostgres.administer(flip, database: node.database.name)  // flipped back
        try node.mirror.catchUp()
        #expect(node.mirror.timesCopiedAgain == 0)
        #expect(node.mirror.position == (try node.shared.headPosition()))
        try MirroredUserStatesTests().expectSameAnswers(node, users, "mended")
    }

    /// A rebuild of the projection (`authctl rebuild` beside authd) during which the copy is
    /// made again from another history switches nothing: its fold is of the old history.
    @Test func aRebuildDuringWhichTheCopyIsMadeAgainSwitchesNothing() async throws {
        let (node, backup) = try Self.signedNode()
        defer {
            node.finish()
            try? FileManager.default.removeItem(atPath: backup)
        }
        let users = try await Self.historyAroundABackup(node, backup, seed: 71)
        try TestPostgres.restore(backup, into: node.database.name)

        let mirror = node.mirror
        let known = users
        let queries = UserQueries(node.projection)
        let rows = Mutex<[UUID: UserState?]>([:])
        #expect(throws: LogReplacedDuringRebuild.self) {
            try node.projection.rebuild { progress in
                // Between the fold and its writing: the copy is made again then.
                guard progress.phase == "writing" else { return }
                _ = try? mirror.catchUp()
                for id in known {
                    let row = (try? queries.user(id: id)) ?? nil
                    rows.withLock { _ = $0.updateValue(row, forKey: id) }
                }
            }
        }
        #expect(node.mirror.timesCopiedAgain == 1)
        let made = rows.withLock { $0 }
        #expect(made.count == users.count)
        for id in users { #expect(try queries.user(id: id) == made[id] ?? nil, "after the refused rebuild: \(id)") }
        // Rebuilt again, from the copy made again: the same rows.
        let report = try node.projection.rebuild()
        #expect(report.events == (try node.shared.headPosition()))
        for id in users { #expect(try queries.user(id: id) == made[id] ?? nil, "rebuilt: \(id)") }
    }

    /// A shared log emptied behind its back (its events and checkpoints deleted, its head row
    /// set back to nothing) replaces no copy that holds events: nothing signs it.
    @Test func anEmptiedSharedLogReplacesNoCopy() async throws {
        let (node, _) = try Self.signedNode()
        defer { node.finish() }
        var users: [UUID] = []
        try await randomHistory(node.service, users: &users, seed: 81, steps: 30, emailPrefix: "a")
        try node.mirror.catchUp()
        let copied = node.mirror.position
        try TestPostgres.administer(
            "UPDATE authlog.head SET position = 0, hash = decode(repeat('00', 32), 'hex'), checkpoint = NULL",
            database: node.database.name)
        try TestPostgres.administer("DELETE FROM authlog.checkpoints", database: node.database.name)
        try TestPostgres.administer("DELETE FROM authlog.events", database: node.database.name)
        for attempt in 1...2 {
            #expect(throws: LogMirror.Failure.self, "attempt \(attempt)") { try node.mirror.catchUp() }
        }
        #expect(node.mirror.isCopyingAgain && node.mirror.timesCopiedAgain == 0)
        #expect(try node.local.headPosition() == copied, "the copy was replaced by an emptied log")
    }

    /// A node that starts with an empty copy copies only a history the log's key signed: with
    /// the head checkpoint's signature spoiled it copies nothing, and says so.
    @Test func anEmptyCopyStartsFromTheSignedHeadOnly() async throws {
        let (node, _) = try Self.signedNode()
        defer { node.finish() }
        var users: [UUID] = []
        try await randomHistory(node.service, users: &users, seed: 91, steps: 30, emailPrefix: "a")
        try TestPostgres.administer(
            """
            UPDATE authlog.head SET checkpoint = set_byte(checkpoint, length(checkpoint) - 1,
              get_byte(checkpoint, length(checkpoint) - 1) # 1)
            """, database: node.database.name)
        let directory = node.directory + "-fresh"
        let local = try LMDBEventLog(directory: directory, options: LogMirror.copyOptions())
        defer {
            local.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
        let fresh = try LogMirror(
            shared: node.shared, local: local, projection: try UserProjection(log: local, keys: node.keys),
            keys: node.keys, divergence: .copyAgain, logKey: node.keys.logSigningKey, firstRetry: .zero)
        do {
            try fresh.catchUp()
            Issue.record("a head its key did not sign was copied")
        } catch let failure as LogMirror.Failure {
            guard case .unsigned = failure else {
                Issue.record("\(failure)")
                return
            }
        }
        #expect(try local.headPosition() == 0)
    }
}
