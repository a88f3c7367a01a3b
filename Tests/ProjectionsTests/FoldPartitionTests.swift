import AuthDomain
import EventLog
import Foundation
import TestSupport
import Testing

@testable import Projections

@Suite(.ownThreads) struct FoldPartitionTests {
    @Test func everyIdKeepsItsOwnStateAcrossGrowth() {
        var fold = FoldPartition(expectedUsers: 4)
        let ids = (0..<5_000).map { _ in UUID() }
        for (number, id) in ids.enumerated() {
            #expect(fold.index(of: id) == number)
        }
        // Found again after the table grew several times; applying goes to the right state.
        for (number, id) in ids.enumerated().reversed() {
            let index = fold.index(of: id)
            #expect(index == number)
            fold.apply(.emailVerified, at: Timestamp(microsecondsSince1970: Int64(number)), to: index)
        }
        #expect(fold.count == ids.count)
        for (number, state) in fold.states.enumerated() {
            #expect(state.id == ids[number])
            #expect(state.emailVerifiedAt == Timestamp(microsecondsSince1970: Int64(number)))
        }
    }

    @Test func idsDifferingOnlyInTheirFirstHalfAreTwoUsers() {
        var fold = FoldPartition(expectedUsers: 16)
        let one = UUID(uuid: (1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9))
        let two = UUID(uuid: (2, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9))
        let three = UUID(uuid: (1, 0, 0, 0, 1, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9))
        let first: [Int] = [one, two, three].map { fold.index(of: $0) }
        let again: [Int] = [three, one, two].map { fold.index(of: $0) }
        #expect(first == [0, 1, 2])
        #expect(again == [2, 0, 1])
    }

    @Test func keysAreHeldPerUserUntilForgotten() {
        var fold = FoldPartition(expectedUsers: 8)
        let keyed = UUID()
        let unkeyed = UUID()
        let key = (0..<32).map { UInt8($0) }
        key.withUnsafeBytes { fold.addKey($0, for: keyed) }
        let unkeyedIndex = fold.index(of: unkeyed)
        #expect(fold.withKey(at: fold.index(of: keyed)) { $0.map(Array.init) } == key)
        #expect(fold.withKey(at: unkeyedIndex) { (key: UnsafeRawBufferPointer?) in key == nil })
        var copied: DataKeyBytes = (0, 0, 0, 0)
        #expect(fold.copyKey(at: fold.index(of: keyed), into: &copied))
        #expect(withUnsafeBytes(of: copied) { Array($0) } == key)
        #expect(!fold.copyKey(at: unkeyedIndex, into: &copied))
        fold.forgetKeys()
        #expect(fold.count == 2)
    }
}
