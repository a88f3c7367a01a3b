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

    /// A dispatcher on `feed` for `endpoint`'s receiver, polling often.
    static func dispatcher(_ store: WebhookStore, _ feed: ReplaceableFeed) -> WebhookDispatcher {
        var configuration = WebhookDispatcher.Configuration()
        configuration.reloadInterval = .milliseconds(100)
        configuration.pollInterval = .milliseconds(20)
        configuration.firstRetry = .milliseconds(100)
        return WebhookDispatcher(store: store, feed: feed, configuration: configuration, logger: Logger(label: "test"))
    }

    /// An endpoint on `store` for every event type, sent to `receiver` from the log's start.
    static func endpoint(_ store: WebhookStore, _ receiver: WebhookTests.Receiver) throws -> WebhookEndpoint {
        let endpoint = try store.add(url: receiver.url, events: ["*"], knownTypes: [], startAfter: 0)
        try endpoint.secret.write(toFile: receiver.secretFile, atomically: true, encoding: .utf8)
        return endpoint
    }

    /// After 20 events sent, the log is replaced with one that shares the first 17 and then
    /// holds 6 others. The endpoint's state names 20 and 16 by their hashes: it goes back to
    /// 16, the newest the new log still holds, so 17 is sent again (its id unchanged) and 18
    /// to 23 are sent under ids of their own; nothing at or before 16 is sent again. On the
    /// code before, the dispatcher went on after its old checkpoint (20) and never sent the
    /// new events at positions 18 to 20.
    @Test func aReplacedLogsNewEventsAreSentFromWhereTheHistoriesPart() async throws {
        let receiver = try WebhookTests.Receiver()
        let data = NSTemporaryDirectory() + "webhook-replaced-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let store = WebhookStore(dataDirectory: data)
        let endpoint = try Self.endpoint(store, receiver)
        let feed = ReplaceableFeed()
        let shared = (1...17).map { "s\($0)" }
        let old = Self.history(shared + ["a18", "a19", "a20"])
        feed.events.withLock { $0 = old }
        let running = Task { await Self.dispatcher(store, feed).run() }
        defer { running.cancel() }

        #expect(try await eventually(within: 30) { Self.received(receiver).count == 20 })
        let oldIDs = Dictionary(uniqueKeysWithValues: Self.received(receiver).map { ($0.position, $0.id) })
        #expect(try store.state(of: endpoint.id)?.anchors?.map(\.position) == [20, 16])

        let new = Self.history(shared + ["b18", "b19", "b20", "b21", "b22", "b23"])
        #expect(new[16].chainHash == old[16].chainHash && new[17].chainHash != old[17].chainHash)
        feed.events.withLock { $0 = new }
        let sent = try await eventually(within: 30) {
            Set(Self.received(receiver).dropFirst(20).map(\.position)).isSuperset(of: 18...23)
        }
        #expect(sent, "received: \(Self.received(receiver))")
        let again = Self.received(receiver).dropFirst(20)
        #expect(again.allSatisfy { $0.position >= 17 }, "sent again: \(again.map(\.position))")
        for message in again where message.position >= 18 {
            #expect(message.id != oldIDs[message.position], "position \(message.position)")
        }
        for message in again where message.position == 17 { #expect(message.id == oldIDs[17]) }
        let state = try #require(try store.state(of: endpoint.id))
        #expect(state.checkpoint == 23)
        #expect(state.anchors?.first?.hash == new[22].chainHash?.description)
    }

    /// A state written before states kept their start and anchors: it never goes back past
    /// where it stood when it was read, whatever the log holds there.
    @Test func aStateFromBeforeNeverGoesBackPastWhereItStood() async throws {
        let receiver = try WebhookTests.Receiver()
        let data = NSTemporaryDirectory() + "webhook-replaced-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let store = WebhookStore(dataDirectory: data)
        let endpoint = try Self.endpoint(store, receiver)
        // Delivered up to 10 by an earlier version: a checkpoint, no start, no anchors.
        try store.save(WebhookState(checkpoint: 10), of: endpoint.id)
        let feed = ReplaceableFeed()
        feed.events.withLock { $0 = Self.history((1...12).map { "a\($0)" }) }
        let running = Task { await Self.dispatcher(store, feed).run() }
        defer { running.cancel() }
        #expect(try await eventually(within: 30) { Self.received(receiver).count == 2 })
        #expect(Self.received(receiver).map(\.position) == [11, 12])
        #expect(try store.state(of: endpoint.id)?.start == 10)

        // Replaced from position 2 on: nothing the new log holds at or before 10 is sent.
        feed.events.withLock { $0 = Self.history(["a1"] + (2...14).map { "b\($0)" }) }
        #expect(try await eventually(within: 30) { Self.received(receiver).count == 6 })
        #expect(Self.received(receiver).map(\.position) == [11, 12, 11, 12, 13, 14])
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
