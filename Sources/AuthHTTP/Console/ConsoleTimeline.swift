import AuthDomain
import EventLog

/// One page of a user's timeline, newest first, written out for the console from an
/// ``AuditPage`` (which events, their changes, each changed field's value before them).
///
/// Rules:
/// - Each change shows the field's value before the event and after it, "—" for none.
///   Secrets show only as "changed" with no before; once the user is erased their personal
///   fields are left out and each event that changed them says so.
/// - Only the page's rows are written out: the read model folds a trail of 10,000 events
///   without writing out the changes of the events off the page.
struct ConsoleTimeline: Equatable {
    struct Change: Equatable {
        var field: String
        var before: String
        var after: String
    }

    struct Row: Equatable {
        var entry: AuditEntry
        var changes: [Change]
    }

    var rows: [Row] = []
    var matching = 0
    var more = false

    init(_ page: AuditPage, erased: Bool, personalKinds: Set<String>, personalFields: Set<String>) {
        matching = page.matching
        more = page.more
        rows = page.entries.map { item in
            var changes: [Change] = []
            for (field, after) in item.entry.changes.sorted(by: { $0.key < $1.key }) {
                if erased, personalFields.contains(field) { continue }
                let old = item.before[field] ?? ""
                let secret = after == "changed" && !personalFields.contains(field)
                changes.append(
                    Change(field: field, before: secret || old.isEmpty ? "—" : old, after: after.isEmpty ? "—" : after))
            }
            if erased, personalKinds.contains(item.entry.type) {
                changes.append(Change(field: "personal fields", before: "erased", after: "erased"))
            }
            return Row(entry: item.entry, changes: changes)
        }
    }

    /// The page cut from a whole trail (``AuditPage/init(trail:before:limit:accepts:)``).
    init(
        _ trail: [AuditEntry], erased: Bool, personalKinds: Set<String>, personalFields: Set<String>,
        before: UInt64?, limit: Int, accepts: (AuditHead) -> Bool
    ) {
        self.init(
            AuditPage(trail: trail, before: before, limit: limit, accepts: accepts), erased: erased,
            personalKinds: personalKinds, personalFields: personalFields)
    }
}
