import Foundation
import TestSupport
import Testing

/// The key store holds one slot per user: an extra copy (an interrupted import of an older
/// release left it, or someone planted it) is removed on a writing open and refused on a
/// read-only one, so an erasure leaves no copy behind; different keys for one user are
/// refused everywhere.
@Suite(.ownThreads) struct KeyStoreSlotTests {
    @Test func aKeyStoreWithTwoSlotsForOneUserIsRepairedOnWriteAndRefusedOnRead() throws {
        let scratch = try Scratch()
        let (data, lines) = try seededExport(scratch)
        // A copy of seed9's slot appended to the file: what an interrupted import of an older
        // release left behind, or what someone with write access plants.
        let (id, wrapped) = try dataKey(of: "seed9@example.com", in: data, lines: lines)
        let keysFile = data + "/keys"
        var keys = try #require(FileManager.default.contents(atPath: keysFile))
        let slotLine = try #require(lines.first { $0.contains("\"kind\":\"data_key\"") && $0.contains(id) })
        keys.append(contentsOf: bytes(fromHex: try #require(json(Substring(slotLine))["slot"] as? String)))
        try keys.write(to: URL(fileURLWithPath: keysFile))

        let read = try authctl(["--data", data, "history", id])
        #expect(read.status == 2 && read.stderr.contains("2 copies of the data key of user \(id)"), "\(read.stderr)")

        let erased = try authctl(["--data", data, "erase", id])
        #expect(erased.status == 0, "\(erased.stderr)")
        #expect(erased.stderr.contains("removed"), "the repair is not reported: \(erased.stderr)")
        #expect(filesContaining(wrapped, under: data).isEmpty, "a copy of the erased user's key is still stored")
        let trail = try authctl(["--data", data, "history", id])
        #expect(trail.status == 0 && !trail.stdout.contains("seed9@example.com"))

        // Two different keys for one user cannot be repaired: every open refuses, by name.
        let victim = try dataKey(of: "seed11@example.com", in: data, lines: lines)
        // Another user's slot: neither the erased user's nor the victim's own.
        let other = try #require(
            lines.first { $0.contains("\"kind\":\"data_key\"") && !$0.contains(id) && !$0.contains(victim.id) })
        var forged = bytes(fromHex: try #require(json(Substring(other))["slot"] as? String))
        forged.replaceSubrange(0..<16, with: UUID(uuidString: victim.id)!.uuidBytes)
        var planted = try #require(FileManager.default.contents(atPath: keysFile))
        planted.append(contentsOf: forged)
        try planted.write(to: URL(fileURLWithPath: keysFile))
        for command in [["history", victim.id], ["erase", victim.id]] {
            let refused = try authctl(["--data", data] + command)
            #expect(refused.status == 2 && refused.stderr.contains("different data keys"), "\(refused.stderr)")
        }
    }
}
