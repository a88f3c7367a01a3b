import EventLog
import EventLogLMDB
import Foundation
import PostgresTestSupport
import ServiceTestSupport
import Synchronization
import TestSupport
import Testing

@testable import LogMirror

/// A node copies its own commits as its writer hands them over, without reading them back
/// from the shared log: a fast path, pinned to the copy a read of the shared log makes.
@Suite(.ownThreads, .enabled(if: TestPostgres.isExpected, Comment(rawValue: TestPostgres.missing)))
struct OwnCommitsTests {
    /// A history through the node's service, with every batch its writer committed.
    static func history(_ node: MirroredUserStatesTests.Node, seed: UInt64) async throws -> (
        users: [UUID], committed: [CommittedBatch]
    ) {
        let committed = Mutex<[CommittedBatch]>([])
        node.shared.whenCommitted { news in
            if case .committed(let batch) = news { committed.withLock { $0.append(batch) } }
        }
        var users: [UUID] = []
        try await randomHistory(node.service, users: &users, seed: seed, steps: 80, emailPrefix: "own")
        return (users, committed.withLock { $0 })
    }

    /// The copy holds the shared log's stored bytes, every one.
    static func expectCopyIsTheSharedLog(_ node: MirroredUserStatesTests.Node) throws {
        let head = try node.shared.headPosition()
        #expect(node.mirror.position == head)
        var copied: [[UInt8]] = []
        try node.local.forEachStoredEnvelope(from: 1, through: head) { _, stored in copied.append(Array(stored)) }
        #expect(copied == (try node.shared.storedEnvelopes(from: 1, limit: Int(head) + 1)))
    }

    @Test func ownCommitsAreCopiedWithoutReadingTheSharedLogAsAReadWouldCopyThem() async throws {
        let node = try MirroredUserStatesTests.Node()
        defer { node.finish() }
        let (users, committed) = try await Self.history(node, seed: 71)
        #expect(committed.count > 10)
        #expect(committed.map(\.stored.count).reduce(0, +) == Int(try node.shared.headPosition()))
        _ = try node.mirror.catchUp(offered: committed.shuffled(), reading: { _ in false })
        #expect(node.mirror.timesReadShared == 0, "the shared log was read")
        try Self.expectCopyIsTheSharedLog(node)
        try MirroredUserStatesTests().expectSameAnswers(node, users, "own commits")
    }

    /// A batch that does not continue the copy (another node's commits came before it) is
    /// not copied alone: the shared log is read, and the copy is whole.
    @Test func aGapBeforeAnOwnCommitIsReadFromTheSharedLog() async throws {
        let node = try MirroredUserStatesTests.Node()
        defer { node.finish() }
        let (users, committed) = try await Self.history(node, seed: 72)
        _ = try node.mirror.catchUp(offered: Array(committed.dropFirst(3)), reading: { _ in false })
        #expect(node.mirror.timesReadShared == 1)
        try Self.expectCopyIsTheSharedLog(node)
        try MirroredUserStatesTests().expectSameAnswers(node, users, "after a gap")
    }

    /// An offered batch whose bytes are not the shared log's (one changed after its chain
    /// hash was taken) fails the copy's chain check: nothing of it is copied, and the shared
    /// log is read instead.
    @Test func anOfferedBatchThatDoesNotChainIsNotCopied() async throws {
        let node = try MirroredUserStatesTests.Node()
        defer { node.finish() }
        let (_, committed) = try await Self.history(node, seed: 73)
        var forged = committed[0]
        forged.stored[0][forged.stored[0].count / 2] ^= 0x01
        _ = try node.mirror.catchUp(offered: [forged], reading: { _ in false })
        #expect(node.mirror.timesReadShared == 1)
        try Self.expectCopyIsTheSharedLog(node)
    }

    /// An offered batch at positions the copy holds with other bytes (the shared log restored
    /// behind the copy, then written by this node) is never taken as copied: the shared log is
    /// read, which finds that it no longer continues the copy.
    @Test func anOfferedBatchBehindTheCopyWithOtherBytesMakesTheMirrorRead() async throws {
        let node = try MirroredUserStatesTests.Node()
        defer { node.finish() }
        let (_, committed) = try await Self.history(node, seed: 74)
        _ = try node.mirror.catchUp(offered: committed, reading: { _ in false })
        #expect(node.mirror.timesReadShared == 0)
        // The same batch, as another history would hold it at these positions.
        var other = committed[committed.count / 2]
        other.stored[other.stored.count - 1][other.stored[other.stored.count - 1].count - 1] ^= 0x01
        _ = try node.mirror.catchUp(offered: [committed[0], other], reading: { _ in false })
        #expect(node.mirror.timesReadShared == 1, "a batch the copy holds otherwise was taken as copied")
        // Here the shared log still continues the copy: the read finds nothing to do.
        try Self.expectCopyIsTheSharedLog(node)
    }

    /// A wait for a position no one wrote (a client may send any `Authlog-Min-Position`) makes
    /// one look read the shared log, not every look after it: the node's own writes are still
    /// copied without a read.
    @Test func aWaitForAPositionNotWrittenDoesNotMakeEveryLookRead() async throws {
        let node = try MirroredUserStatesTests.Node()
        defer { node.finish() }
        let mirror = node.mirror
        let following = Task { await mirror.follow() }
        var failure: (any Error)?
        do {
            try await Self.writeAfterAWaitForAPositionNotWritten(node)
        } catch {
            failure = error
        }
        // The copying thread ends before the node's files close.
        following.cancel()
        await following.value
        if let failure { throw failure }
    }

    /// A copy from before the mark (here made by a writer without the map, still empty) is
    /// marked once its node's catch-up finds the shared log continuing it: a writer without
    /// the map refuses it from then on.
    @Test func aCopyFromBeforeTheMarkIsMarkedAtItsCatchUp() async throws {
        let node = try MirroredUserStatesTests.Node(prepare: { directory in
            try LMDBEventLog(directory: directory).close()
        })
        defer { node.finish() }
        _ = try node.mirror.catchUp()
        node.local.close()
        #expect(throws: EventLogError.writtenInMap(path: node.directory)) {
            _ = try LMDBEventLog(directory: node.directory)
        }
    }

    static func writeAfterAWaitForAPositionNotWritten(_ node: MirroredUserStatesTests.Node) async throws {
        let progress = MirrorProgress(node.mirror)
        #expect(try await progress.waitForPosition(UInt64.max, timeout: .milliseconds(300)) < UInt64.max)
        let clock = ContinuousClock()
        let start = clock.now
        let readsBefore = node.mirror.timesReadShared
        let writes = 30
        for index in 0..<writes {
            _ = try await node.service.register(
                .init(
                    email: "wait\(index)@example.com", password: "a long password", firstName: "W", lastName: "\(index)"
                ),
                correlationID: "t")
            // A write's own wait, as the HTTP layer makes it (60 s: a bound for a failure only).
            let position = try node.shared.headPosition()
            #expect(try await progress.waitForPosition(position, timeout: .seconds(60)) >= position)
        }
        let reads = node.mirror.timesReadShared - readsBefore
        // Polls read once a second. Beyond them, no read: with the target kept, each of the
        // writes would read.
        let seconds = Int((clock.now - start).components.seconds)
        #expect(reads <= seconds + 2, "\(reads) reads in \(seconds) s for \(writes) writes")
    }
}
