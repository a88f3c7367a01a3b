import AuthDomain
import EventLog

/// The payload codec (``UserEvent`` over ``ByteReader``), every event kind.
///
/// Input: one byte naming the kind (modulo the number of kinds), one byte of flags (bit 0:
/// the data key is gone, so personal parts come back empty; bit 1: a schema version other
/// than 1, taken from the next two bytes), then the payload. The sealed personal part is
/// "opened" as it is, so the fuzzer reaches the personal fields' decoding too.
///
/// Properties: decoding never reads past the payload (the address sanitizer); an event that
/// decodes encodes to bytes that decode to the same event, and encoding it again gives the
/// same bytes; its times print.
enum FuzzPayload {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 2 else { return }
        let kinds = UserEvent.Kind.allCases
        let kind = kinds[Int(input[0]) % kinds.count]
        let keyGone = input[1] & 1 != 0
        var schemaVersion: UInt16 = 1
        var start = 2
        if input[1] & 2 != 0 {
            guard input.count >= 4 else { return }
            schemaVersion = UInt16(input[2]) << 8 | UInt16(input[3])
            start = 4
        }
        let payload = UnsafeRawBufferPointer(rebasing: input[start...])
        let open: (UnsafeRawBufferPointer) throws -> [UInt8]? = { keyGone ? nil : [UInt8]($0) }
        guard let event = try? UserEvent(kind: kind, schemaVersion: schemaVersion, payload: payload, opening: open)
        else { return }
        require(schemaVersion == 1, "schema version \(schemaVersion) decoded")
        require(event.kind == kind, "decoded a \(event.kind) from a \(kind) payload")
        let encoded = event.payload { $0 }
        let again: UserEvent
        do {
            again = try encoded.withUnsafeBytes {
                try UserEvent(kind: kind, schemaVersion: 1, payload: $0, opening: open)
            }
        } catch {
            fatalError("property violated: a decoded \(kind) does not decode once encoded: \(error)")
        }
        require(again == event, "decode(encode(\(event))) is \(again)")
        require(again.payload { $0 } == encoded, "encoding \(kind) is not stable")
        switch event {
        case .emailVerificationRequested(let issued), .passwordResetRequested(let issued):
            _ = issued.expiresAt.description
        case .loginFailed(let failed):
            _ = failed.lockedUntil?.description
        default: break
        }
    }
}
