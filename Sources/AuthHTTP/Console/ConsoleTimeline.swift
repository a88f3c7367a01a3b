import AuthDomain
import EventLog

/// One page of a user's timeline, newest first, from their audit trail.
///
/// Rules:
/// - `matching` counts every event the filter accepts; the page holds, of those, the newest
///   `limit` older than `before` (all of them without `before`), newest first; `more` says
///   older ones remain.
/// - Each change shows the field's value before the event (the trail folded from the start)
///   and after it. Secrets show only as "changed" with no before; once the user is erased
///   their personal fields are left out and each event that changed them says so.
/// - Only the page's rows are written out: a trail of 10,000 events costs one pass that keeps
///   each field's latest value, not 10,000 rows.
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

    init(
        _ trail: [AuditEntry], erased: Bool, personalKinds: Set<String>, personalFields: Set<String>,
        before: UInt64?, limit: Int, accepts: (AuditEntry) -> Bool
    ) {
        // Newest first: which entries the page shows.
        var chosen: [Int] = []
        for index in trail.indices.reversed() where accepts(trail[index]) {
            matching += 1
            if let before, trail[index].position >= before { continue }
            if chosen.count < limit { chosen.append(index) } else { more = true }
        }
        guard let newest = chosen.first else { return }
        let wanted = Set(chosen)
        var rowsByIndex: [Int: Row] = [:]
        var current: [String: String] = [:]
        for index in 0...newest {
            let entry = trail[index]
            guard wanted.contains(index) else {
                // Not on the page: only the latest values matter (a field comes once an event).
                for (field, after) in entry.changes { current[field] = after }
                continue
            }
            var changes: [Change] = []
            for (field, after) in entry.changes.sorted(by: { $0.key < $1.key }) {
                let old = current[field] ?? ""
                current[field] = after
                if erased, personalFields.contains(field) { continue }
                let secret = after == "changed" && !personalFields.contains(field)
                changes.append(
                    Change(field: field, before: secret || old.isEmpty ? "—" : old, after: after.isEmpty ? "—" : after))
            }
            if erased, personalKinds.contains(entry.type) {
                changes.append(Change(field: "personal fields", before: "erased", after: "erased"))
            }
            rowsByIndex[index] = Row(entry: entry, changes: changes)
        }
        rows = chosen.compactMap { rowsByIndex[$0] }
    }
}
