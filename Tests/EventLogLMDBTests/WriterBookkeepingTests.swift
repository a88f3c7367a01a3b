import EventLog
import Foundation
import TestSupport
import Testing

@testable import EventLogLMDB

/// The writer's own chain hashing and stream-head table agree with the plain versions.
@Suite(.ownThreads) struct WriterBookkeepingTests {
    @Test func chainLinksMatchTheOneShotHash() {
        let hasher = ChainHasher()
        var scratch: [UInt8] = []
        var link = ChainHash.genesis
        for size in [0, 1, 31, 32, 33, 290, 4_096] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
            let expected = bytes.withUnsafeBytes { link.next(canonicalBytes: $0, scratch: &scratch) }
            let computed = bytes.withUnsafeBytes { hasher.next(after: link, canonical: $0) }
            #expect(computed == expected)
            link = computed
        }
    }

    @Test func streamHeadsBehaveLikeADictionary() {
        var table = StreamHeads()
        var reference: [UUID: StreamHead] = [:]
        var ids = (0..<5_000).map { _ in UUID() }
        ids.append(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))
        ids += (0..<3_000).map { _ in UUID.timeOrdered(at: Timestamp(microsecondsSince1970: 1_000)) }
        var state: UInt64 = 7
        for round in 0..<30_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let id = ids[Int(state >> 33) % ids.count]
            #expect(table.head(of: id) == reference[id])
            let head = StreamHead(version: UInt64(round + 1), position: state >> 20)
            table.set(head, for: id)
            reference[id] = head
        }
        #expect(table.count == reference.count)
        for id in ids { #expect(table.head(of: id) == reference[id]) }
        #expect(table.head(of: UUID()) == nil)
    }

    /// Ids chosen so that the table's unseeded hash (a multiply of one word, a xor of the
    /// other, a multiply) gave them all one slot at every size, as someone writing a format-1
    /// log's events could choose them for its move: with the seeded hash they spread.
    @Test func streamHeadsSpreadIdsChosenToCollide() {
        var table = StreamHeads()
        let ids = (1...4_096).map { word -> UUID in
            let a = UInt64(word)
            let b = 0x0123_4567_89AB_CDEF ^ (a &* 0x9E37_79B9_7F4A_7C15)
            return UUID(uuid: unsafeBitCast((a, b), to: uuid_t.self))
        }
        for (index, id) in ids.enumerated() {
            table.set(StreamHead(version: 1, position: UInt64(index + 1)), for: id)
        }
        #expect(table.count == ids.count)
        #expect(table.longestRun < 64)
        for (index, id) in ids.enumerated() {
            #expect(table.head(of: id) == StreamHead(version: 1, position: UInt64(index + 1)))
        }
    }
}
