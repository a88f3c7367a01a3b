import AuthDomain
import DataProtection
import EventLog
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing
import Webhooks

/// The webhook dispatcher's way back on a log replaced behind it (a backup restored, then
/// written again), step by step on a feed of the test's own whose history the test replaces:
/// no HTTP and no task of its own, so nothing here waits on the concurrency pool that other
/// tests keep busy. `ClusterTests.aNodesWebhooksSendWhatARestoredLogHoldsAtPositionsAlreadySent`
/// delivers the same way through real authd nodes, PostgreSQL and the real receiver.
@Suite(.ownThreads)
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
        var hash = [UInt8](repeating: 0, count: 32)
        return tags.enumerated().map { index, tag in
            let chain = hash + Array(tag.utf8)
            chain.withUnsafeBytes { SHA256Digest.digest($0.baseAddress, count: $0.count, into: &hash) }
            return FeedEvent(
                position: UInt64(index + 1), stream: UUID(), streamVersion: 1, type: "UserRegistered",
                recordedAt: Timestamp(microsecondsSince1970: 1_800_000_000_000_000 + Int64(index)), actor: "system",
                correlationID: tag, fields: ["tag": .string(tag)], personal: nil,
                chainHash: hash.withUnsafeBytes { ChainHash(bytes: $0) })
        }
    }

    /// A dispatcher over `feed` with an endpoint for every type in a data directory of its
    /// own (removed by `body`'s end).
    static func withDispatcher(
        _ feed: ReplaceableFeed, _ body: (WebhookDispatcher, WebhookStore, WebhookEndpoint) throws -> Void
    ) throws {
        let data = NSTemporaryDirectory() + "webhook-replaced-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let store = WebhookStore(dataDirectory: data)
        let sealing = FileSealingKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let endpoint = try store.add(
            url: "http://127.0.0.1:9/hooks", events: ["*"], knownTypes: [], startAfter: 0, sealing: sealing
        ).endpoint
        let dispatcher = WebhookDispatcher(
            store: store, sealing: sealing, feed: feed, configuration: .init(),
            logger: Logger(label: "webhook-replaced-log-test"))
        // Its HTTP client is never used here, but must be shut down before it goes.
        defer { try? dispatcher.client.syncShutdown() }
        try body(dispatcher, store, endpoint)
    }

    /// What the delivery loop does with the events it is given, the posts left out: it
    /// advances past each. Returns the positions given, the go-backs as empty reads.
    static func deliver(
        _ dispatcher: WebhookDispatcher, _ state: inout WebhookState, _ endpoint: WebhookEndpoint, reads: Int
    ) throws -> [[UInt64]] {
        var given: [[UInt64]] = []
        for _ in 0..<reads {
            let events = try dispatcher.nextEvents(&state, of: endpoint)
            given.append(events.map(\.position))
            for event in events { WebhookDispatcher.advance(&state, past: event) }
        }
        return given
    }

    /// After 20 events passed, the log is replaced with one that shares the first 17 and then
    /// holds 6 others. The state names 20 and 16 by their hashes: the next read finds 20 gone
    /// and goes back to 16, the newest the new log still holds; the read after gives 17 (again,
    /// under its old id) to 23, the new ones under ids of their own. On the code before, the
    /// dispatcher read on after its old checkpoint (20) and never gave the new 18 to 20.
    @Test func aReplacedLogIsReadAgainFromTheNewestEventItStillHolds() throws {
        let feed = ReplaceableFeed()
        let shared = (1...17).map { "s\($0)" }
        let old = Self.history(shared + ["a18", "a19", "a20"])
        feed.events.withLock { $0 = old }
        try Self.withDispatcher(feed) { dispatcher, store, endpoint in
            var state = try dispatcher.startingState(of: endpoint)
            #expect(state.checkpoint == 0 && state.start == 0)
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 1) == [Array(1...20)])
            #expect(state.anchors?.map(\.position) == [20, 16])
            // Nothing new: the checkpoint's event is read and still there.
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 1) == [[]])
            #expect(state.checkpoint == 20)

            let new = Self.history(shared + ["b18", "b19", "b20", "b21", "b22", "b23"])
            #expect(new[16].chainHash == old[16].chainHash && new[17].chainHash != old[17].chainHash)
            feed.events.withLock { $0 = new }
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 2) == [[], Array(17...23)])
            #expect(try store.state(of: endpoint.id)?.checkpoint == 16)  // saved when it went back
            #expect(state.checkpoint == 23 && state.anchors?.first?.hash == new[22].chainHash?.description)

            let id = WebhookDispatcher.messageID(for:)
            #expect(id(new[16]) == id(old[16]))
            for position in 17..<20 { #expect(id(new[position]) != id(old[position]), "position \(position + 1)") }
        }
    }

    /// A state written before states kept their start and anchors: it never goes back past
    /// where it stood when it was first read, whatever the new log holds there.
    @Test func aStateFromBeforeNeverGoesBackPastWhereItStood() throws {
        let feed = ReplaceableFeed()
        feed.events.withLock { $0 = Self.history((1...12).map { "a\($0)" }) }
        try Self.withDispatcher(feed) { dispatcher, store, endpoint in
            // Delivered up to 10 by an earlier version: a checkpoint, no start, no anchors.
            try store.save(WebhookState(checkpoint: 10), of: endpoint.id)
            var state = try dispatcher.startingState(of: endpoint)
            #expect(state.start == 10)
            #expect(try store.state(of: endpoint.id)?.start == 10)
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 1) == [[11, 12]])

            // Replaced from position 2 on: back to 10, not before.
            feed.events.withLock { $0 = Self.history(["a1"] + (2...14).map { "b\($0)" }) }
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 2) == [[], [11, 12, 13, 14]])
        }
    }

    /// A log shorter than the checkpoint (restored, not yet written past it) goes back at
    /// once, and the events written after it are read as they come.
    @Test func aLogCutBehindTheCheckpointIsReadFromWhereItStillHoldsTheEvents() throws {
        let feed = ReplaceableFeed()
        let old = Self.history((1...8).map { "a\($0)" })
        feed.events.withLock { $0 = old }
        try Self.withDispatcher(feed) { dispatcher, _, endpoint in
            var state = try dispatcher.startingState(of: endpoint)
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 1) == [Array(1...8)])
            #expect(state.anchors?.map(\.position) == [8])
            feed.events.withLock { $0 = Array(old.prefix(5)) }
            // Only 8 is kept and the log does not hold it: back to where delivery started.
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 2) == [[], [1, 2, 3, 4, 5]])
            feed.events.withLock { $0 = Self.history((1...5).map { "a\($0)" } + ["c6", "c7"]) }
            #expect(try Self.deliver(dispatcher, &state, endpoint, reads: 1) == [[6, 7]])
        }
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
