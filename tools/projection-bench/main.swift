// Read benchmark over a seeded data directory (`authctl seed`, then `authctl rebuild`):
// point reads by id and by email, and pages of 100 users by role, on one core, in process.
//
// Usage: swift run -c release projection-bench DIRECTORY [READS]
import AuthDomain
import DataProtection
import Dispatch
import EventLog
import EventLogLMDB
import Foundation
import Projections

let arguments = CommandLine.arguments
guard arguments.count > 1 else {
    FileHandle.standardError.write(Data("usage: projection-bench DIRECTORY [READS]\n".utf8))
    exit(64)
}
let directory = arguments[1]
let reads = arguments.count > 2 ? Int(arguments[2]) ?? 1_000_000 : 1_000_000
let log = try LMDBEventLog(directory: directory, options: .init(readOnly: true))
let keys = try KeyStore(dataDirectory: directory)
let projection = try UserProjection(log: log, keys: keys)
let queries = UserQueries(projection)

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

// Sample ids from the role index.
var ids: [UUID] = []
var cursor: String?
repeat {
    let page = try queries.users(role: .target, limit: 1_000, after: cursor)
    ids += page.users.map(\.id)
    cursor = page.nextCursor
} while cursor != nil && ids.count < 100_000
let total = try Role.allCases.reduce(0) { $0 + (try queries.count(role: $1, includeDeleted: true)) }
print(
    "projection-bench: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(total) users, sampled \(ids.count) ids")

var random = SystemRandomNumberGenerator()
let order = (0..<reads).map { _ in Int(random.next() % UInt64(ids.count)) }
var found = 0
let byID = try seconds { for index in order { if try queries.user(id: ids[index]) != nil { found += 1 } } }
print(String(format: "point read by id:        %10.0f reads/s (%d found)", Double(reads) / byID, found))

// 200,000 reads over 10,000 addresses, in turn: the first read of each goes to the claim
// index (timed apart as well); the later ones are answered from the per-snapshot memo of
// owners, as repeated logins and resets of one address would be.
let emails = try ids.prefix(10_000).map { try queries.user(id: $0)!.email }
found = 0
let emailReads = max(min(reads, 200_000), emails.count)
let firstEmailReads = try seconds { for email in emails { if try queries.user(email: email) != nil { found += 1 } } }
let laterEmailReads = try seconds {
    for index in emails.count..<emailReads {
        if try queries.user(email: emails[index % emails.count]) != nil { found += 1 }
    }
}
print(
    String(
        format: "point read by email:     %10.0f reads/s (%d found; the first read of each address: %.0f reads/s)",
        Double(emailReads) / (firstEmailReads + laterEmailReads), found,
        Double(emails.count) / firstEmailReads))

var pages: [Double] = []
var pageCursor: String?
for _ in 0..<1_000 {
    let start = DispatchTime.now().uptimeNanoseconds
    let page = try queries.users(role: .target, limit: 100, after: pageCursor)
    pages.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1_000)
    pageCursor = page.nextCursor
}
pages.sort()
print(String(format: "page of 100 by role:     median %.1f µs, p99 %.1f µs", pages[500], pages[990]))
log.close()
