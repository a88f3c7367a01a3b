import Foundation
import LMDB
import Synchronization
import TestSupport
import Testing

/// `WriterKindLock`: writers with and without a writable map never have one environment open
/// at once; writers of one kind, and readers, share it.
@Suite(.ownThreads) struct WriterKindsTests {
    func withDirectory(_ body: (String) throws -> Void) throws {
        let path = NSTemporaryDirectory() + "lmdb-kinds-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(path)
    }

    /// A writer of the other kind holding the directory refuses an opening to write before
    /// LMDB touches anything: no data file is made (with the map, opening would set its
    /// length), and the holder's lock is unchanged.
    @Test(arguments: [false, true]) func anOpeningToWriteIsRefusedWhileTheOtherKindHoldsIt(inMap: Bool) throws {
        try withDirectory { path in
            let holder = try WriterKindLock(directory: path, inMap: !inMap)
            #expect(throws: LMDBError.otherKindOfWriter) {
                _ = try Environment(path: path, options: .init(mapSize: 1 << 20, writableMap: inMap))
            }
            #expect(!FileManager.default.fileExists(atPath: path + "/data.mdb"))
            #expect(throws: LMDBError.otherKindOfWriter) {
                _ = try WriterKindLock(directory: path, inMap: inMap)
            }
            holder.release()
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 20, writableMap: inMap))
            environment.close()
        }
    }

    /// Writers of one kind share the directory; a reader takes no lock and opens it while
    /// writers of either kind hold theirs.
    @Test(arguments: [false, true]) func writersOfOneKindAndReadersShareIt(inMap: Bool) throws {
        try withDirectory { path in
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 20, writableMap: inMap))
            let txn = try environment.beginTransaction(readOnly: false)
            _ = try txn.openDatabase("made", flags: .create)
            try txn.commit()
            let sameKind = try WriterKindLock(directory: path, inMap: inMap)
            sameKind.release()
            environment.close()
            // One environment per directory in a process: the writers beside the reader are
            // their locks alone.
            let holder = try WriterKindLock(directory: path, inMap: inMap)
            defer { holder.release() }
            let reader = try Environment(path: path, options: .init(mapSize: 1 << 20, readOnly: true))
            reader.close()
        }
    }

    /// Closing the environment gives its lock back: the other kind opens it then.
    @Test func closingGivesTheLockBack() throws {
        try withDirectory { path in
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 20, writableMap: true))
            #expect(throws: LMDBError.otherKindOfWriter) {
                _ = try WriterKindLock(directory: path, inMap: false)
            }
            environment.close()
            let plain = try WriterKindLock(directory: path, inMap: false)
            plain.release()
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: path).sorted()
                    == [
                        "data.mdb", "lock.mdb", WriterKindLock.inFileName, WriterKindLock.inMapName,
                        WriterKindLock.lookName,
                    ].sorted())
        }
    }

    /// Keeping writers out (to move the files) is refused while a writer of either kind has
    /// the environment open, and holds both kinds' files until released.
    @Test(arguments: [false, true]) func keepingWritersOutIsRefusedWhileOneHasItOpen(inMap: Bool) throws {
        try withDirectory { path in
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 20, writableMap: inMap))
            #expect(throws: LMDBError.writerOpen) { _ = try WriterKindLock.excludingWriters(directory: path) }
            environment.close()
            let excluded = try WriterKindLock.excludingWriters(directory: path)
            #expect(throws: LMDBError.writerOpen) { _ = try WriterKindLock.excludingWriters(directory: path) }
            excluded.release()
            let again = try WriterKindLock.excludingWriters(directory: path)
            again.release()
        }
    }

    /// A look for writers finds one of either kind while it has the environment open, and
    /// makes no file in a directory no writer has used.
    @Test(arguments: [false, true]) func aLookForWritersFindsOneOpenAndMakesNoFile(inMap: Bool) throws {
        try withDirectory { path in
            #expect(try !WriterKindLock.isOpenToWriters(directory: path))
            #expect(try FileManager.default.contentsOfDirectory(atPath: path).isEmpty)
            let environment = try Environment(path: path, options: .init(mapSize: 1 << 20, writableMap: inMap))
            #expect(try WriterKindLock.isOpenToWriters(directory: path))
            environment.close()
            #expect(try !WriterKindLock.isOpenToWriters(directory: path))
        }
    }

    /// A writer opening while another process looks at the lock files (a writer's own look,
    /// a look for writers, the taking of both files to move them) waits for the look to end and
    /// opens: it does not take the look's hold of the other kind's file for a writer of that
    /// kind. Before the look file, it was refused so.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/locks")), arguments: [false, true])
    func anOpeningWaitsForAnotherLook(inMap: Bool) throws {
        try withDirectory { path in
            // A look under way: the look file held, and the other kind's file held exclusively.
            let look = open(path + "/" + WriterKindLock.lookName, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            let other = open(
                path + "/" + (inMap ? WriterKindLock.inFileName : WriterKindLock.inMapName),
                O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            try #require(look >= 0 && other >= 0)
            defer {
                close(look)
                close(other)
            }
            try #require(flock(look, LOCK_EX) == 0 && flock(other, LOCK_EX) == 0)
            let outcome = Mutex<Result<Void, LMDBError>?>(nil)
            let ended = DispatchSemaphore(value: 0)
            Thread.detachNewThread {
                let result = Result { () throws(LMDBError) in
                    try Environment(path: path, options: .init(mapSize: 1 << 20, writableMap: inMap)).close()
                }
                outcome.withLock { $0 = result }
                ended.signal()
            }
            // Until the opening waits for the look file, or has ended (refused at once before).
            let waited = waitUntil {
                outcome.withLock { $0 != nil }
                    || flockIsAwaited(onFile: path + "/" + WriterKindLock.lookName, byProcess: getpid())
            }
            #expect(waited, "no waiter on the look file in /proc/locks after 30 s")
            #expect(outcome.withLock { $0 == nil }, "ended during another look")
            flock(other, LOCK_UN)
            flock(look, LOCK_UN)
            try #require(ended.wait(timeout: .now() + 30) == .success, "still opening 30 s after the look ended")
            #expect(throws: Never.self) { try outcome.withLock { $0 }?.get() }
        }
    }

    /// The refusal says what it is, not LMDB's text for its code.
    @Test func theRefusalsSayWhatTheyAre() {
        #expect(LMDBError.otherKindOfWriter.description.contains("other kind of writer"))
        #expect(LMDBError.writerOpen.description == "a writer has this environment open")
    }
}
