import AuthDomain
import EventLog
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing
import Webhooks

/// The webhook dispatcher on a log replaced behind it (a backup restored, then written again),
/// with the real receiver (tools/webhooks/receiver.py) and a feed of the test's own whose
/// history the test replaces.
@Suite
struct WebhookReplacedLogTests {
    /// A feed over events the test sets, and replaces.
    final class ReplaceableFeed: EventFeed {
        let events = Mutex<[FeedEvent]>([])

        func head() throws -> UInt64 { events.withLock { UInt64($0.count) } }

        func events(after position: UInt64, limit: Int, personal: Bool) throws -> [FeedEvent] {
            events.withLock { Array($0.dropFirst(Int(position)).prefix(max(1, min(limit, 1_000)))) }
        }
    }

    /// A history of one event per tag, each chained to the ones before it: two histories
    /// with the same first tags have the same first hashes, and differ from their first
    /// difference on.
    static func history(_ tags: [String]) -> [FeedEvent] {
        var chain: [UInt8] = []
        var hash = [UInt8](repeating: 0, count: 32)
        return tags.enumerated().map { index, tag in
            chain = hash + Array(tag.utf8)
            chain.withUnsafeBytes { SHA256Digest.digest($0.baseAddress, count: $0.count, into: &hash) }
            return FeedEvent(
                position: UInt64(index + 1), stream: UUID(), streamVersion: 1, type: "UserRegistered",
                recordedAt: Timestamp(microsecondsSince1970: 1_800_000_000_000_000 + Int64(index)), actor: "system",
                correlationID: tag, fields: ["tag": .string(tag)], personal: nil,
                chainHash: hash.withUnsafeBytes { ChainHash(bytes: $0) })
        }
    }

    /// The receiver's acknowledged messages: (position, webhook-id), in the order received.
    static func received(_ receiver: WebhookTests.Receiver) -> [(position: Int, id: String)] {
        receiver.requests().compactMap { request in
            guard request["status"] as? Int == 200, request["verified"] as? Bool == true,
                let position = request["position"] as? Int, let id = request["id"] as? String
            else { return nil }
            return (position, id)
        }
    }

    /// After the log is replaced with one that shares its first 2 events and then holds 5
    /// others, every one of those 5 is sent, under ids the old history's events did not have.
    /// On the code before, the dispatcher went on after its old checkpoint (position 5) and
    /// never sent the new events at positions 3 to 5.
    @Test func aReplacedLogsNewEventsAreSentFromWhereTheHistoriesPart() async throws {
        let receiver = try WebhookTests.Receiver()
        let data = NSTemporaryDirectory() + "webhook-replaced-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let store = WebhookStore(dataDirectory: data)
        let endpoint = try store.add(url: receiver.url, events: ["*"], knownTypes: [], startAfter: 0)
        try endpoint.secret.write(toFile: receiver.secretFile, atomically: true, encoding: .utf8)

        let feed = ReplaceableFeed()
        let old = Self.history(["a1", "a2", "a3", "a4", "a5"])
        feed.events.withLock { $0 = old }
        var configuration = WebhookDispatcher.Configuration()
        configuration.reloadInterval = .milliseconds(100)
        configuration.pollInterval = .milliseconds(20)
        configuration.firstRetry = .milliseconds(100)
        let dispatcher = WebhookDispatcher(
            store: store, feed: feed, configuration: configuration, logger: Logger(label: "test"))
        let running = Task { await dispatcher.run() }
        defer { running.cancel() }

        #expect(try await eventually(within: 30) { Self.received(receiver).count == 5 })
        let oldIDs = Set(Self.received(receiver).map(\.id))

        let new = Self.history(["a1", "a2", "b3", "b4", "b5", "b6", "b7"])
        #expect(new[1].chainHash == old[1].chainHash && new[2].chainHash != old[2].chainHash)
        feed.events.withLock { $0 = new }
        let sent = try await eventually(within: 30) {
            Set(Self.received(receiver).dropFirst(5).map(\.position)).isSuperset(of: 3...7)
        }
        #expect(sent, "received: \(Self.received(receiver))")
        let after = Self.received(receiver).dropFirst(5)
        // The new history's events at positions 3 to 5 have ids of their own.
        #expect(after.filter { $0.position >= 3 }.allSatisfy { !oldIDs.contains($0.id) })
        // Nothing before where the histories part is sent as new.
        #expect(after.allSatisfy { $0.position >= 1 })
        let state = try #require(try store.state(of: endpoint.id))
        #expect(state.checkpoint == 7)
        #expect(state.anchors?.first?.hash == new[6].chainHash?.description)
    }

    /// The anchors kept: for each power of two, the newest position passed that is a multiple
    /// of it; at most 64 whatever the number of events.
    @Test func anchorsKeepTheNewestMultipleOfEachPowerOfTwo() {
        var state = WebhookState(checkpoint: 0, start: 0)
        for position in UInt64(1)...1_000 { state.pass(position, hash: "\(position)") }
        let positions = state.anchors?.map(\.position) ?? []
        let expected = (0..<10).map { k in UInt64(1_000) / (1 << k) * (1 << k) }
        #expect(positions == Array(Set(expected)).sorted(by: >))
        #expect(state.checkpoint == 1_000)
    }
}
