import EventLog
import EventLogLMDB
import Foundation
import Synchronization
import TestSupport

/// A fresh directory per test, removed when the value goes away.
final class TemporaryDirectory: Sendable {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "authlog-test-" + UUID().uuidString
    }

    /// A path inside the directory that does not exist yet.
    func child(_ name: String) -> String { path + "/" + name }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Where the package's executable `name` is: beside the test bundle.
func productPath(_ name: String) -> String { builtProduct(name).path }

/// Runs a program to completion and collects its output.
func run(_ executable: String, _ arguments: [String]) throws -> ProcessOutput {
    try runProcess(URL(fileURLWithPath: executable), arguments)
}

func event(_ type: String = "TestEvent", _ text: String = "payload", actor: String = "system") -> NewEvent {
    NewEvent(
        type: type, schemaVersion: 1, metadata: EventMetadata(actor: actor, correlationID: "test"),
        payload: Array(text.utf8))
}

extension LMDBEventLog {
    /// Every event, in order.
    func all() throws -> [RecordedEvent] {
        try read(from: 1, limit: .max)
    }
}

/// A clock that returns scripted times, one per call.
final class ClockScript: Sendable {
    private let times: Mutex<[Int64]>
    init(_ times: [Int64]) { self.times = Mutex(times) }
    func next() -> Timestamp {
        Timestamp(microsecondsSince1970: times.withLock { $0.count > 1 ? $0.removeFirst() : $0[0] })
    }
}

extension ChainVerification {
    var isIntact: Bool {
        if case .intact = self { return true }
        return false
    }

    var breakPosition: UInt64? {
        if case .broken(let failure) = self { return failure.position }
        return nil
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
