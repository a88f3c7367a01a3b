import ArgumentParser
import AuthService
import EventLog
import EventLogLMDB
import Foundation

/// Seed adds generated users only to a directory that holds nothing else.
///
/// Rule: without `--force`, every event already in the log must carry the seeder's
/// correlation id (``Seeder/correlationID``); the first that does not (a user registered
/// through authd, an admin made by `create-admin`, an import of real data) stops the seed
/// before anything is written.
extension Seed {
    func refuseUnseeded(_ log: LMDBEventLog) throws {
        let head = try failing { try log.headPosition() }
        guard head > 0 else { return }
        let marker = Array(Seeder.correlationID.utf8)
        var foreign: UInt64?
        try failing {
            try log.forEachStoredEnvelope(from: 1, through: head) { position, stored in
                guard foreign == nil else { return }
                if try !Envelope.parse(stored).correlationIDBytes.elementsEqual(marker) { foreign = position }
            }
        }
        if let foreign {
            printError(
                "authctl: \(root.data) holds events seed did not write (the first at position \(foreign)); "
                    + "seed adds generated users only to an empty or seeded directory (--force to add them anyway)")
            throw ExitCode(2)
        }
    }
}
