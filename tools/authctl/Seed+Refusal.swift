import ArgumentParser
import AuthService
import EventLog
import EventLogLMDB
import Foundation

/// Seed adds generated users only to a directory that holds nothing else, and numbers them
/// after the users earlier seeds wrote.
///
/// Rules:
/// - without `--force`, every event already in the log must carry the seeder's correlation
///   id (``Seeder/correlationID``); the first that does not (a user registered through authd,
///   an admin made by `create-admin`, an import of real data) stops the seed before anything
///   is written;
/// - the users seed wrote before are the streams it began (version 1 with its correlation
///   id); a new seed numbers its users (and their addresses) from that count on, so a seed
///   stopped part-way (a full disk: each append holds whole users) can simply run again.
extension Seed {
    /// Refuses (unless `--force`) a log that holds events seed did not write; returns the
    /// number of users seed wrote before.
    /// `walk` calls its body with each stored envelope from 1 through the position given.
    func scanExisting(
        head: UInt64,
        walk: (UInt64, (UInt64, UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws -> Int {
        guard head > 0 else { return 0 }
        let marker = Array(Seeder.correlationID.utf8)
        var foreign: UInt64?
        var seeded = 0
        try failing {
            try walk(head) { position, stored in
                let envelope = try Envelope.parse(stored)
                if envelope.correlationIDBytes.elementsEqual(marker) {
                    if envelope.streamVersion == 1 { seeded += 1 }
                } else if foreign == nil {
                    foreign = position
                }
            }
        }
        if let foreign, !force {
            printError(
                "authctl: \(root.logURL == nil ? root.data : "the shared log") holds events seed did not write (the first at position \(foreign)); "
                    + "seed adds generated users only to an empty or seeded directory (--force to add them anyway)")
            throw ExitCode(2)
        }
        return seeded
    }
}
