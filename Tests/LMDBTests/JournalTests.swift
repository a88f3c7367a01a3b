import Foundation
import Synchronization
import TestSupport
import Testing

@testable import LMDB

/// The journal's promise: every commit that returned is in the environment after a restart,
/// whatever part of `data.mdb`'s writes since the last checkpoint reached the disk.
///
/// A power loss is acted out on copies: `data.mdb` as it was when the last checkpoint was on
/// disk, then pages of the file as the process left it laid over it, a random choice of them
/// (the order the system writes its buffers back in is its own), the meta pages included;
/// the journal's files as they are (each record was synced before its commit returned); and
/// another boot id.
@Suite(.ownThreads) struct JournalTests {
    /// A directory of its own, removed afterwards.
    final class Scratch {
        let path = NSTemporaryDirectory() + "journal-test-" + UUID().uuidString
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func directory(_ name: String) throws -> String {
            let directory = path + "/" + name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            return directory
        }
    }

    /// The bytes of `data.mdb` when the last checkpoint was written (the disk's state then).
    final class DiskAtCheckpoint: Sendable {
        let source: String
        let bytes = Mutex<Data?>(nil)
        let count = Atomic<Int>(0)
        init(source: String) { self.source = source }
        func take() {
            bytes.withLock { $0 = FileManager.default.contents(atPath: source + "/data.mdb") }
            count.add(1, ordering: .relaxed)
        }
    }

    static func options(
        _ disk: DiskAtCheckpoint?, segmentBytes: Int = 4 << 20, interval: Double = 3_600, bootID: String? = nil,
        mapSize: Int = 8 << 20
    ) -> Environment.Options {
        var journal = Journal.Options(segmentBytes: segmentBytes, checkpointInterval: interval, bootID: bootID)
        if let disk { journal.checkpointWritten = { disk.take() } }
        return Environment.Options(mapSize: mapSize, journal: journal)
    }

    /// Random writes: puts of new and existing keys with values of varied length, and
    /// deletes, `transactions` commits of `writes` each; returns what the database holds.
    static func churn(
        _ environment: Environment, transactions: Int, writes: Int, keys: Int, seed: UInt64,
        model: inout [Data: Data], valueBytes: ClosedRange<Int> = 40...600
    ) throws {
        var random = SplitMix(seed: seed)
        for _ in 0..<transactions {
            var pending = model
            try withGrowth(environment) {
                pending = model
                let txn = try environment.beginTransaction(readOnly: false)
                let db = try #require(try txn.openDatabase("things", flags: .create))
                for _ in 0..<writes {
                    let key = Data("key-\(random.next() % UInt64(keys))".utf8)
                    if random.next() % 5 == 0 {
                        try key.withUnsafeBytes { _ = try txn.delete(db, key: $0) }
                        pending[key] = nil
                    } else {
                        let length = valueBytes.lowerBound + Int(random.next() % UInt64(valueBytes.count))
                        let value = Data((0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) })
                        try key.withUnsafeBytes { k in try value.withUnsafeBytes { try txn.put(db, key: k, value: $0) }
                        }
                        pending[key] = value
                    }
                }
                try txn.commit()
            }
            model = pending
        }
    }

    /// Runs `body` again after growing the map while it fails with a full map.
    static func withGrowth(_ environment: Environment, _ body: () throws -> Void) throws {
        while true {
            do {
                return try body()
            } catch let error as LMDBError where error == .mapFull {
                try environment.setMapSize(environment.mapSize * 2)
            }
        }
    }

    static func contents(_ environment: Environment) throws -> [Data: Data] {
        try environment.read { txn in
            guard let db = try txn.openDatabase("things") else { return [:] }
            return try txn.withCursor(db) { cursor in
                var found: [Data: Data] = [:]
                var entry = try cursor.first()
                while let current = entry {
                    found[Data(current.key)] = Data(current.value)
                    entry = try cursor.next()
                }
                return found
            }
        }
    }

    /// A disk after a power loss: `base` with each page of `latest` laid over it where `pick`
    /// says, in a new directory holding copies of the journal's files.
    static func powerLoss(
        base: Data, latest: Data, journalFrom source: String, into target: String, pageSize: Int = 4096,
        pick: (Int) -> Bool
    ) throws {
        var image = base
        if image.count < latest.count { image.append(Data(count: latest.count - image.count)) }
        for page in 0..<(latest.count / pageSize) where pick(page) {
            let range = page * pageSize..<(page + 1) * pageSize
            image.replaceSubrange(range, with: latest[range])
        }
        try image.write(to: URL(fileURLWithPath: target + "/data.mdb"))
        for name in JournalFormat.segmentNames + [JournalFormat.checkpointName] {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: target + "/" + name)
        }
        try adoptCheckpoint(in: target)
    }

    /// Points the copied checkpoint at the copy's `data.mdb` (a copy is another inode).
    static func adoptCheckpoint(in directory: String, bootID: String? = nil) throws {
        let url = URL(fileURLWithPath: directory + "/" + JournalFormat.checkpointName)
        let bytes = try Data(contentsOf: url)
        let half = bytes.count / 2
        var checkpoint = try #require(bytes.withUnsafeBytes { Checkpoint.latest(in: $0) })
        var status = stat()
        #expect(stat(directory + "/data.mdb", &status) == 0)
        checkpoint.device = UInt64(status.st_dev)
        checkpoint.inode = UInt64(status.st_ino)
        if let bootID { checkpoint.bootID = bootID }
        let file = try FileHandle(forWritingTo: url)
        try file.seek(toOffset: UInt64(Int(checkpoint.number % 2) * half))
        try file.write(contentsOf: checkpoint.encoded(pageSize: 4096))
        try file.close()
    }

    /// A journaled environment in a new directory, written `transactions` times, with what
    /// its disk held at the last checkpoint and holds now.
    struct Written {
        let scratch: Scratch
        let source: String
        let environment: Environment
        let model: [Data: Data]
        let base: Data
        let latest: Data
    }

    static func written(transactions: Int, writes: Int, keys: Int, seed: UInt64) throws -> Written {
        let scratch = try Scratch()
        let source = try scratch.directory("source")
        let disk = DiskAtCheckpoint(source: source)
        var model: [Data: Data] = [:]
        let environment = try Environment(path: source, options: Self.options(disk))
        try Self.churn(environment, transactions: transactions, writes: writes, keys: keys, seed: seed, model: &model)
        return Written(
            scratch: scratch, source: source, environment: environment, model: model,
            base: try #require(disk.bytes.withLock { $0 }),
            latest: try #require(FileManager.default.contents(atPath: source + "/data.mdb")))
    }

    @Test func everyCommitSurvivesAPowerLossWhateverPagesReachedTheDisk() throws {
        let scratch = try Scratch()
        let source = try scratch.directory("source")
        let disk = DiskAtCheckpoint(source: source)
        var model: [Data: Data] = [:]
        let first = try Environment(path: source, options: Self.options(nil))
        try Self.churn(first, transactions: 60, writes: 20, keys: 1_500, seed: 1, model: &model)
        first.close()
        // Opened again, a checkpoint of what the first opening wrote; then enough churn that
        // LMDB would reuse that state's pages were they not pinned.
        let environment = try Environment(path: source, options: Self.options(disk))
        try Self.churn(environment, transactions: 150, writes: 12, keys: 1_500, seed: 2, model: &model)
        #expect(try Self.contents(environment) == model)
        // The last checkpoint: the open's, or a growth's (the pin keeps every page freed
        // since, so the file grows faster than without it).
        let base = try #require(disk.bytes.withLock { $0 })
        let latest = try #require(FileManager.default.contents(atPath: source + "/data.mdb"))

        var random = SplitMix(seed: 7)
        for trial in 0..<10 {
            let target = try scratch.directory("loss-\(trial)")
            // All, none, then random shares of the pages written since the checkpoint.
            let share = [100, 0, 50, 90, 10, 50, 75, 25, 99, 1][trial]
            try Self.powerLoss(base: base, latest: latest, journalFrom: source, into: target) { _ in
                Int(random.next() % 100) < share
            }
            let recovered = try Environment(path: target, options: Self.options(nil, bootID: "another boot \(trial)"))
            #expect(try Self.contents(recovered) == model, "trial \(trial), \(share) % of the pages")
            recovered.close()
            // Replayed and closed cleanly: the next opening finds no replay to do, in any boot.
            let again = try Environment(path: target, options: Self.options(nil, bootID: "a third boot"))
            #expect(try Self.contents(again) == model)
            again.close()
        }
        environment.close()
    }

    @Test func aTornRecordAfterTheLastCommitIsIgnored() throws {
        let written = try Self.written(transactions: 20, writes: 10, keys: 100, seed: 3)
        defer { written.environment.close() }
        let target = try written.scratch.directory("torn")
        try Self.powerLoss(base: written.base, latest: written.latest, journalFrom: written.source, into: target) {
            $0 % 2 == 0
        }
        // A record cut short where the next would go: a header that claims more than is there.
        let journal = try Journal(directory: target, options: .init(segmentBytes: 4 << 20))
        let checkpoint = try #require(journal.storedCheckpoint())
        var offset = checkpoint.offset
        var sequence = checkpoint.lastSequence + 1
        while let payload = journal.readRecord(
            segment: checkpoint.segment, generation: checkpoint.generation, offset: offset, sequence: sequence)
        {
            offset += JournalFormat.recordBytes(payload: payload.count)
            sequence += 1
        }
        #expect(sequence == checkpoint.lastSequence + 21, "each commit left one record")
        var torn = JournalBytes()
        torn.append(JournalFormat.recordMagic)
        torn.append(UInt32(900))
        torn.append(checkpoint.generation)
        torn.append(sequence)
        torn.append(UInt64(0))
        torn.bytes += [UInt8](repeating: 0xAB, count: 300)
        try writeAll(journal.segmentDescriptor(checkpoint.segment), torn.bytes, at: offset)
        let recovered = try Environment(path: target, options: Self.options(nil, bootID: "another boot"))
        #expect(try Self.contents(recovered) == written.model)
        recovered.close()
    }

    @Test func aJournalIsNeverAppliedToAnotherDataFile() throws {
        let written = try Self.written(transactions: 5, writes: 5, keys: 50, seed: 4)
        defer { written.environment.close() }
        let target = try written.scratch.directory("replaced")
        try written.base.write(to: URL(fileURLWithPath: target + "/data.mdb"))
        for name in JournalFormat.segmentNames + [JournalFormat.checkpointName] {
            try FileManager.default.copyItem(atPath: written.source + "/" + name, toPath: target + "/" + name)
        }
        let before = try #require(FileManager.default.contents(atPath: target + "/data.mdb"))
        #expect(throws: LMDBError.journalOfAnotherFile) {
            _ = try Environment(path: target, options: Self.options(nil, bootID: "another boot"))
        }
        #expect(FileManager.default.contents(atPath: target + "/data.mdb") == before, "data.mdb left as it was")
    }

    @Test func aMapGrownMidwayKeepsEveryCommitThroughAPowerLoss() throws {
        let scratch = try Scratch()
        let source = try scratch.directory("source")
        let disk = DiskAtCheckpoint(source: source)
        var model: [Data: Data] = [:]
        let environment = try Environment(path: source, options: Self.options(disk, mapSize: 256 << 10))
        try Self.churn(environment, transactions: 120, writes: 20, keys: 3_000, seed: 5, model: &model)
        #expect(environment.mapSize > 256 << 10, "the map grew")
        #expect(disk.count.load(ordering: .relaxed) > 1, "each growth wrote a checkpoint")
        try Self.churn(environment, transactions: 60, writes: 20, keys: 3_000, seed: 6, model: &model)
        let base = try #require(disk.bytes.withLock { $0 })
        let latest = try #require(FileManager.default.contents(atPath: source + "/data.mdb"))
        for (trial, share) in [0, 60, 100].enumerated() {
            var random = SplitMix(seed: UInt64(trial))
            let target = try scratch.directory("loss-\(trial)")
            try Self.powerLoss(base: base, latest: latest, journalFrom: source, into: target) { _ in
                Int(random.next() % 100) < share
            }
            let recovered = try Environment(
                path: target, options: Self.options(nil, bootID: "another boot", mapSize: 256 << 10))
            #expect(try Self.contents(recovered) == model, "\(share) % of the pages")
            recovered.close()
        }
        environment.close()
    }

    @Test func aTransactionTooLargeForARecordIsCheckpointedBeforeItsCommitReturns() throws {
        let scratch = try Scratch()
        let source = try scratch.directory("source")
        let disk = DiskAtCheckpoint(source: source)
        var model: [Data: Data] = [:]
        // Segments of 64 KiB: a transaction's record may take 16 KiB.
        let environment = try Environment(path: source, options: Self.options(disk, segmentBytes: 64 << 10))
        try Self.churn(environment, transactions: 3, writes: 5, keys: 50, seed: 8, model: &model)
        let checkpoints = disk.count.load(ordering: .relaxed)
        try Self.churn(
            environment, transactions: 1, writes: 200, keys: 400, seed: 9, model: &model, valueBytes: 200...400)
        #expect(disk.count.load(ordering: .relaxed) == checkpoints + 1, "the large commit wrote a checkpoint")
        try Self.churn(environment, transactions: 10, writes: 5, keys: 400, seed: 10, model: &model)
        let base = try #require(disk.bytes.withLock { $0 })
        let latest = try #require(FileManager.default.contents(atPath: source + "/data.mdb"))
        let target = try scratch.directory("loss")
        var random = SplitMix(seed: 11)
        try Self.powerLoss(base: base, latest: latest, journalFrom: source, into: target) { _ in
            random.next() % 2 == 0
        }
        let recovered = try Environment(
            path: target, options: Self.options(nil, segmentBytes: 64 << 10, bootID: "another boot"))
        #expect(try Self.contents(recovered) == model)
        recovered.close()
        environment.close()
    }

    @Test func aWriterWithoutTheJournalReplaysOneLeftUncleanAndSyncsFromThen() throws {
        let written = try Self.written(transactions: 30, writes: 10, keys: 200, seed: 12)
        defer { written.environment.close() }
        let target = try written.scratch.directory("loss")
        try Self.powerLoss(base: written.base, latest: written.latest, journalFrom: written.source, into: target) {
            $0 % 3 == 0
        }
        try Self.adoptCheckpoint(in: target, bootID: "another boot")
        // A reader may not open it first: data.mdb may not be whole until the replay.
        #expect(throws: LMDBError.journalNeedsReplay) {
            _ = try Environment(path: target, options: .init(mapSize: 8 << 20, readOnly: true))
        }
        let plain = try Environment(path: target, options: .init(mapSize: 8 << 20))
        #expect(try Self.contents(plain) == written.model)
        plain.close()
        let journal = try Journal(directory: target, options: .init(segmentBytes: 4 << 20))
        #expect(journal.storedCheckpoint()?.clean == true)
    }

    /// (The other way round, a journaled writer refused while another process has the
    /// environment open, needs two processes: `JournalDurabilityTests`.)
    @Test func aWriterWithoutTheJournalIsRefusedWhileAJournaledOneHasItOpen() throws {
        let scratch = try Scratch()
        let path = try scratch.directory("journaled")
        let journaled = try Environment(path: path, options: Self.options(nil))
        #expect(throws: LMDBError.journalInUse) {
            _ = try Environment(path: path, options: .init(mapSize: 8 << 20))
        }
        journaled.close()
    }

    @Test func checkpointsComeOnTheirOwnThreadAndStayOnePerIntervalOrHalfSegment() throws {
        let scratch = try Scratch()
        let source = try scratch.directory("source")
        let disk = DiskAtCheckpoint(source: source)
        var model: [Data: Data] = [:]
        // Half a 256 KiB segment is passed every few dozen commits here.
        let environment = try Environment(path: source, options: Self.options(disk, segmentBytes: 256 << 10))
        try Self.churn(environment, transactions: 300, writes: 10, keys: 500, seed: 13, model: &model)
        environment.close()
        #expect(disk.count.load(ordering: .relaxed) > 3, "checkpoints as the segments filled")
        let reopened = try Environment(path: source, options: Self.options(nil, segmentBytes: 256 << 10))
        #expect(try Self.contents(reopened) == model)
        reopened.close()
    }
}

/// A small deterministic generator (SplitMix64).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
