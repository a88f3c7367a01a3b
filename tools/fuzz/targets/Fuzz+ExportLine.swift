import AuthDomain
import EventLog
import Foundation
import LogExport

/// One line of an export, read as `authctl import` reads it: its kind from the JSON object,
/// then a `data_key` line as ``DataKeyLine``, an `event` line as ``EventLine`` (expected at the
/// position it names, its payload decoded as its type with the data key gone) and a
/// `checkpoint` line as ``CheckpointJSON``.
///
/// Properties: what is accepted reads back as it was written. An event's stored bytes parse
/// as an envelope with the line's position, stream, version, type, time and hash, and the
/// hash and payload texts are the ones an export writes for those bytes; a data key's slot is
/// its hex; a checkpoint written back as JSON reads as the same checkpoint.
enum FuzzExportLine {
    static func run(_ input: UnsafeRawBufferPointer) {
        let line = [UInt8](input)
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return }
        switch object["kind"] as? String {
        case "data_key":
            guard let dataKey = try? DataKeyLine(line), let slot = try? dataKey.slot else { return }
            require(hex(slot) == dataKey.slotHex.lowercased(), "slot \(dataKey.slotHex) reads as \(hex(slot))")
        case "event":
            event(line, position: (object["position"] as? NSNumber)?.uint64Value ?? 1)
        case "checkpoint":
            guard let parsed = CheckpointJSON.parse(line), let checkpoint = parsed.checkpoint else { return }
            let written = CheckpointJSON(checkpoint, publicKey: nil)
            require(
                CheckpointJSON.parse(Array(written.line.utf8))?.checkpoint == checkpoint,
                "checkpoint \(written.line) does not read back")
            require(written.hash == parsed.hash.lowercased(), "hash \(parsed.hash) reads as \(written.hash)")
            require(
                written.signature == parsed.signature, "signature \(parsed.signature) reads as \(written.signature)")
        default:
            return
        }
    }

    static func event(_ line: [UInt8], position: UInt64) {
        guard let event = try? EventLine(line, expectedPosition: position) else { return }
        event.stored.withUnsafeBytes { stored in
            let view: EnvelopeView
            do { view = try Envelope.parse(stored) } catch {
                fatalError("property violated: an accepted event line stores bytes that do not parse: \(error)")
            }
            require(view.position == event.position, "position \(view.position) stored for \(event.position)")
            require(UUID(uuidString: event.stream) == view.streamID, "stream \(view.streamID) for \(event.stream)")
            require(view.streamVersion == event.streamVersion, "stream version differs")
            require(view.type == event.type && view.schemaVersion == event.schemaVersion, "type differs")
            require(view.recordedAt.description == event.recordedAt, "time \(view.recordedAt) for \(event.recordedAt)")
            require(hex(view.hash.bytes) == event.hash.lowercased(), "hash \(event.hash) stored as \(view.hash)")
            require(
                Data(view.payload).base64EncodedString() == event.payload,
                "payload \(event.payload) stored as \(Data(view.payload).base64EncodedString())")
        }
        try? event.checkPayload { view in
            try UserEvent(type: view.type, schemaVersion: view.schemaVersion, payload: view.payload) { _ in nil }
        }
    }
}
