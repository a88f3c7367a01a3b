import AuthDomain
import AuthService
import EventLog

/// One page of a user's timeline, newest first, written out for the console from an
/// ``AuditPage`` (which events, their changes, each changed field's value before them).
///
/// Rules:
/// - Each change shows the field's value before the event and after it, "—" for none.
///   Secrets show only as "changed" with no before; once the user is erased their personal
///   fields are left out and each event that changed them says so.
/// - Only the page's rows are written out: the read model folds the whole trail without
///   writing out the changes of the events off the page.
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

    /// The rows as the timeline's list items, every value HTML-escaped. Written here, not by
    /// the template, whose dynamic look-up of each value was a large part of the page's time
    /// (docs/performance.md).
    func html(userID: String, time: (Timestamp) -> String) -> String {
        var out = ""
        out.reserveCapacity(rows.count * 400)
        for row in rows {
            let entry = row.entry
            out += "<li class=\"event\"><div class=\"head\"><span class=\"type\">\(entry.type.htmlEscaped)</span> "
            out += "<a href=\"/admin/users/\(userID.htmlEscaped)?as_of=\(entry.position)\" class=\"position\">"
            out += "#\(entry.position)</a> <time>\(time(entry.recordedAt).htmlEscaped)</time> "
            out += "<span class=\"actor\">by \(entry.actor.htmlEscaped)</span></div>\n"
            for change in row.changes {
                out += "<div class=\"change\"><span class=\"field\">\(change.field.htmlEscaped)</span> "
                out += "<del>\(change.before.htmlEscaped)</del> → <ins>\(change.after.htmlEscaped)</ins></div>"
            }
            out += "</li>\n"
        }
        return out
    }
}
