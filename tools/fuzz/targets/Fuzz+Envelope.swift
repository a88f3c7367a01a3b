import AuthDomain
import EventLog
import Foundation

/// The stored-envelope parser (``Envelope/parse(_:)``), on the bytes as the log holds them.
///
/// Properties: every buffer of the view lies inside the input and in order; the stream id
/// read at its fixed offset is the parsed one; the canonical bytes are the input without its
/// hash, and writing the view's fields again gives them back (when its texts are UTF-8); the
/// type recognised from its bytes is the one recognised from its name; the owned copy and
/// the time print.
enum FuzzEnvelope {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard let view = try? Envelope.parse(input) else { return }
        let start = UInt(bitPattern: input.baseAddress)
        let end = start + UInt(input.count)
        var cursor = start
        for (name, part) in [
            ("type", view.typeBytes), ("actor", view.actorBytes), ("correlation id", view.correlationIDBytes),
            ("payload", view.payload),
        ] {
            let at = UInt(bitPattern: part.baseAddress)
            require(
                part.isEmpty || (at >= cursor && at + UInt(part.count) <= end), "the \(name) is outside the input")
            if !part.isEmpty { cursor = at + UInt(part.count) }
        }
        require(view.canonicalBytes.count == input.count - Envelope.hashSize, "canonical bytes are not input - hash")
        require(view.hash.bytes.elementsEqual(input.suffix(Envelope.hashSize)), "the hash is not the last 32 bytes")
        require(Envelope.streamID(ofStored: input) == view.streamID, "the stream id at its offset differs")
        let recorded = view.recorded
        _ = view.recordedAt.description
        let kind = UserEvent.Kind(typeBytes: view.typeBytes)
        guard let type = String(validating: view.typeBytes, as: UTF8.self),
            let actor = String(validating: view.actorBytes, as: UTF8.self),
            let correlationID = String(validating: view.correlationIDBytes, as: UTF8.self)
        else { return }
        require(kind == UserEvent.Kind(name: type), "type bytes and type name are recognised differently")
        require(recorded.type == type && recorded.metadata.actor == actor, "the owned copy differs")
        var writer = ByteWriter()
        Envelope.writeCanonical(
            of: NewEvent(
                type: type, schemaVersion: view.schemaVersion,
                metadata: EventMetadata(actor: actor, correlationID: correlationID), payload: [UInt8](view.payload)),
            position: view.position, streamID: view.streamID, streamVersion: view.streamVersion,
            recordedAt: view.recordedAt, to: &writer)
        require(writer.bytes.elementsEqual(view.canonicalBytes), "writing the parsed fields gives other bytes")
    }
}
