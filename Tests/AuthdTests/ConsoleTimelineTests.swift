import AuthDomain
import EventLog
import TestSupport
import Testing

@testable import AuthHTTP

/// The console's paged timeline against the full one it replaces: every event folded and
/// written out, newest first, then cut to the page.
@Suite(.ownThreads) struct ConsoleTimelineTests {
    static let personalFields: Set<String> = ["email", "first_name"]
    static let personalKinds: Set<String> = ["ProfileUpdated"]

    /// A trail of `count` events whose changes touch a few fields at random.
    static func trail(count: Int, seed: UInt64) -> [AuditEntry] {
        var random = SplitMix64(seed: seed)
        let fields = ["email", "first_name", "role", "password_hash", "failed_logins"]
        let types = ["ProfileUpdated", "RoleChanged", "LoginFailed"]
        return (0..<count).map { index in
            var changes: [String: String] = [:]
            for field in fields where random.next() % 3 == 0 {
                changes[field] = field == "password_hash" ? "changed" : random.next() % 5 == 0 ? "" : "v\(index)"
            }
            return AuditEntry(
                position: UInt64(index * 2 + 1), recordedAt: Timestamp(microsecondsSince1970: Int64(index) * 1_000),
                type: types[Int(random.next() % 3)], actor: "system", correlationID: "c", changes: changes)
        }
    }

    /// Every accepted event with its changes, newest first (the reference).
    static func full(_ trail: [AuditEntry], erased: Bool, accepts: (AuditHead) -> Bool) -> [ConsoleTimeline.Row] {
        var current: [String: String] = [:]
        var rows: [ConsoleTimeline.Row] = []
        for entry in trail {
            var changes: [ConsoleTimeline.Change] = []
            for (field, after) in entry.changes.sorted(by: { $0.key < $1.key }) {
                let old = current[field] ?? ""
                current[field] = after
                if erased, personalFields.contains(field) { continue }
                let secret = after == "changed" && !personalFields.contains(field)
                changes.append(
                    .init(field: field, before: secret || old.isEmpty ? "—" : old, after: after.isEmpty ? "—" : after))
            }
            if erased, personalKinds.contains(entry.type) {
                changes.append(.init(field: "personal fields", before: "erased", after: "erased"))
            }
            if accepts(AuditHead(position: entry.position, recordedAt: entry.recordedAt, type: entry.type)) {
                rows.append(.init(entry: entry, changes: changes))
            }
        }
        return rows.reversed()
    }

    @Test(arguments: [false, true])
    func pagesFollowedToTheEndEqualTheFullTimeline(erased: Bool) {
        let trail = Self.trail(count: 730, seed: erased ? 2 : 1)
        let filters: [(AuditHead) -> Bool] = [
            { _ in true }, { $0.type == "RoleChanged" }, { $0.position >= 301 && $0.position <= 1_001 },
        ]
        for accepts in filters {
            let reference = Self.full(trail, erased: erased, accepts: accepts)
            var pages: [ConsoleTimeline.Row] = []
            var before: UInt64?
            while true {
                let page = ConsoleTimeline(
                    trail, erased: erased, personalKinds: Self.personalKinds, personalFields: Self.personalFields,
                    before: before, limit: 100, accepts: accepts)
                #expect(page.matching == reference.count)
                #expect(page.rows.count <= 100)
                pages += page.rows
                guard page.more, let last = page.rows.last else { break }
                before = last.entry.position
            }
            #expect(pages == reference)
            #expect(!reference.isEmpty)
        }
    }

    @Test func anEmptyTrailOrAPageBeforeEverythingShowsNothing() {
        let trail = Self.trail(count: 20, seed: 3)
        let none = ConsoleTimeline(
            [], erased: false, personalKinds: [], personalFields: [], before: nil, limit: 100, accepts: { _ in true })
        #expect(none.rows.isEmpty && none.matching == 0 && !none.more)
        let early = ConsoleTimeline(
            trail, erased: false, personalKinds: [], personalFields: [], before: 1, limit: 100, accepts: { _ in true })
        #expect(early.rows.isEmpty && early.matching == 20 && !early.more)
    }

    @Test func theRowsAreWrittenWithEveryValueEscaped() {
        let hostile = "\"><img src=x onerror=alert(1)> <script>alert('x')</script> & Zoë"
        let entry = AuditEntry(
            position: 7, recordedAt: Timestamp(microsecondsSince1970: 0), type: "ProfileUpdated", actor: hostile,
            correlationID: "c", changes: ["first_name": hostile])
        let page = ConsoleTimeline(
            [entry], erased: false, personalKinds: [], personalFields: ["first_name"], before: nil, limit: 100,
            accepts: { _ in true })
        let html = page.html(userID: "u1", time: { _ in "<t>" })
        #expect(!html.contains("<script") && !html.contains("<img") && !html.contains("<t>"))
        let escaped =
            "&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Zoë"
        #expect(html.contains("<ins>\(escaped)</ins>") && html.contains("by \(escaped)</span>"))
        #expect(html.contains("<a href=\"/admin/users/u1?as_of=7\" class=\"position\">#7</a> <time>&lt;t&gt;</time>"))
    }
}
