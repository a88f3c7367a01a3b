import AuthDomain
import AuthService
import DataProtection
import EventLog
import EventLogLMDB
import Foundation
import PasswordHashing
import Synchronization

@testable import Projections

/// A log with the user projection attached and a service writing to it, in a fresh directory.
final class World: @unchecked Sendable {
    let directory: String
    var log: LMDBEventLog
    var keys: KeyStore
    var projection: UserProjection
    var service: AuthService
    let pool = HashingPool(threads: 2)
    var queries: UserQueries { UserQueries(projection) }

    init(directory: String = NSTemporaryDirectory() + "authlog-projection-" + UUID().uuidString) throws {
        self.directory = directory
        (log, keys, projection, service) = try Self.open(directory, pool: pool, version: UserProjection.version)
    }

    static func open(_ directory: String, pool: HashingPool, version: UInt32) throws -> (
        LMDBEventLog, KeyStore, UserProjection, AuthService
    ) {
        let log = try LMDBEventLog(directory: directory)
        let keys = try KeyStore(dataDirectory: directory, environment: [:])
        let projection = try UserProjection(log: log, keys: keys, codeVersion: version)
        let service = try AuthService(
            log: log, keys: keys,
            configuration: .init(
                passwordPolicy: try PasswordPolicy(minimumLength: 8),
                hashing: PasswordHashing(current: Argon2idHasher(memoryKiB: 256, iterations: 1, parallelism: 1))),
            pool: pool, mailer: try MaildirMailer(directory: directory + "/maildir"))
        return (log, keys, projection, service)
    }

    /// Closes and opens everything again, as a restart would, with the code's projection version.
    func reopen(version: UInt32 = UserProjection.version) throws {
        log.close()
        (log, keys, projection, service) = try Self.open(directory, pool: pool, version: version)
    }

    /// Every user id that has a stream.
    func streamIDs() throws -> [UUID] {
        var ids: [UUID] = []
        var seen = Set<UUID>()
        try log.forEachEnvelope(from: 1) { view in
            if seen.insert(view.streamID).inserted { ids.append(view.streamID) }
            return true
        }
        return ids
    }

    func finish() {
        log.close()
        pool.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
