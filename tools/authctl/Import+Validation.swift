import EventSealing
import LogExport

extension EventLine {
    /// ``checkPayload(decoding:)`` with the import's data keys.
    func checkPayload(with sealing: UserEventSealing) throws {
        try checkPayload(decoding: sealing.decode)
    }
}
