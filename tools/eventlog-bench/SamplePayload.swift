import EventLog
import Foundation

/// A payload shaped like a profile change (about 200 bytes with its envelope): what the
/// read benchmark decodes, in the binary codec and, for comparison, in JSON.
struct SamplePayload: Codable, Equatable {
    var userID: UUID
    var email: String
    var firstName: String
    var lastName: String
    var phone: String?
    var changedAt: Int64
    var sessionHash: [UInt8]
    var userAgent: String

    static func make(_ index: Int) -> SamplePayload {
        SamplePayload(
            userID: UUID(), email: "user\(index)@example.com", firstName: "Firstname\(index % 1000)",
            lastName: "Lastname-\(index % 977)", phone: index % 3 == 0 ? nil : "+44 20 7946 \(index % 10_000)",
            changedAt: 1_790_000_000_000_000 + Int64(index),
            sessionHash: (0..<32).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) },
            userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.\(index % 10)")
    }

    func encode(to writer: inout ByteWriter) {
        writer.write(userID)
        writer.write(email)
        writer.write(firstName)
        writer.write(lastName)
        writer.writeOptional(phone) { $0.write($1) }
        writer.write(changedAt)
        writer.write(raw: sessionHash)
        writer.write(userAgent)
    }

    /// Decodes the fields a projection needs; the session hash stays a 32-byte digest value.
    static func decode(_ bytes: UnsafeRawBufferPointer) throws -> (SamplePayload.Light) {
        var reader = ByteReader(bytes)
        let user = try reader.readUUID()
        let email = try reader.readString()
        let first = try reader.readString()
        let last = try reader.readString()
        let phone = try reader.readOptional { reader throws(BinaryDecodingError) in try reader.readString() }
        let changedAt = try reader.readInt64()
        let hash = ChainHash(bytes: try reader.readBytes(count: 32))
        let agent = try reader.readString()
        return Light(
            userID: user, email: email, firstName: first, lastName: last, phone: phone, changedAt: changedAt,
            sessionHash: hash, userAgent: agent)
    }

    /// Decodes every field, leaving strings in place as UTF-8 (what a projection that copies
    /// them into its own records needs).
    static func decodeInPlace(_ bytes: UnsafeRawBufferPointer) throws -> InPlace {
        var reader = ByteReader(bytes)
        let user = try reader.readUUID()
        let email = try reader.readStringBytes()
        let first = try reader.readStringBytes()
        let last = try reader.readStringBytes()
        let phone = try reader.readOptional { reader throws(BinaryDecodingError) in try reader.readStringBytes() }
        let changedAt = try reader.readInt64()
        let hash = ChainHash(bytes: try reader.readBytes(count: 32))
        let agent = try reader.readStringBytes()
        return InPlace(
            userID: user, email: email, firstName: first, lastName: last, phone: phone, changedAt: changedAt,
            sessionHash: hash, userAgent: agent)
    }

    struct InPlace {
        var userID: UUID
        var email: UnsafeRawBufferPointer
        var firstName: UnsafeRawBufferPointer
        var lastName: UnsafeRawBufferPointer
        var phone: UnsafeRawBufferPointer?
        var changedAt: Int64
        var sessionHash: ChainHash
        var userAgent: UnsafeRawBufferPointer
    }

    /// The decoded form a fold works with: strings owned, the hash a fixed-size value.
    struct Light {
        var userID: UUID
        var email: String
        var firstName: String
        var lastName: String
        var phone: String?
        var changedAt: Int64
        var sessionHash: ChainHash
        var userAgent: String
    }
}
