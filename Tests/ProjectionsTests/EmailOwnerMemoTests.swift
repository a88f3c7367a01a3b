import Foundation
import TestSupport
import Testing

@testable import Projections

@Suite(.ownThreads) struct EmailOwnerMemoTests {
    @Test func anOwnerIsKnownOnlyInTheSnapshotItWasSeenIn() {
        let memo = EmailOwnerMemo(capacity: 8)
        let owner = UUID()
        memo.remember(owner, owns: "a@example.com", atSnapshot: 7)
        #expect(memo.owner(of: "a@example.com", atSnapshot: 7) == owner)
        #expect(memo.owner(of: "a@example.com", atSnapshot: 8) == nil)
        #expect(memo.owner(of: "a@example.com", atSnapshot: 0) == nil)
        #expect(memo.owner(of: "b@example.com", atSnapshot: 7) == nil)
        let next = UUID()
        memo.remember(next, owns: "a@example.com", atSnapshot: 9)
        #expect(memo.owner(of: "a@example.com", atSnapshot: 9) == next)
        #expect(memo.owner(of: "a@example.com", atSnapshot: 7) == nil)
    }

    @Test func aFullMemoStartsOverAndStaysCorrect() {
        let memo = EmailOwnerMemo(capacity: 4)
        var owners: [(String, UUID)] = []
        for index in 0..<50 {
            let entry = ("user\(index)@example.com", UUID())
            memo.remember(entry.1, owns: entry.0, atSnapshot: 3)
            owners.append(entry)
            #expect(memo.owner(of: entry.0, atSnapshot: 3) == entry.1)
        }
        let remembered = owners.filter { memo.owner(of: $0.0, atSnapshot: 3) != nil }
        #expect(remembered.count <= 4)
        #expect(remembered.allSatisfy { memo.owner(of: $0.0, atSnapshot: 3) == $0.1 })
    }
}
