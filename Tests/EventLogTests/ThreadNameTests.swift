import EventLog
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite(.ownThreads) struct ThreadNameTests {
    /// Starts a thread that names itself `name`; returns the name the system shows for it.
    func systemName(ofThreadNamed name: String) throws -> String {
        let named = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            nameCurrentThread(name)
            named.withLock { $0 = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8) }
            done.signal()
        }
        thread.start()
        done.wait()
        return try #require(named.withLock { $0 }).trimmingCharacters(in: .newlines)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/thread-self/comm")))
    func aThreadShowsItsNameCutToFifteenBytes() throws {
        #expect(try systemName(ofThreadNamed: "log-writer") == "log-writer")
        #expect(try systemName(ofThreadNamed: "a-name-longer-than-fifteen") == "a-name-longer-t")
    }
}
