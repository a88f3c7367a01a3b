import EventLog
import Foundation
import Signatures
import TestSupport
import Testing

/// ES256's signer and verifier against OpenSSL's own command-line tool: a signature `openssl
/// dgst -sha256 -sign` made verifies here, and one made here verifies there.
@Suite(.ownThreads) struct P256Tests {
    /// A P-256 key made by `openssl ecparam -genkey -name prime256v1` (SEC 1 DER, base64url).
    static let privateKey =
        "MHcCAQEEIODsO6FIcNCeF-rCdWrjwEBs3Jng3QpxQPpl8mwuLTm8oAoGCCqGSM49AwEHoUQDQgAE5h2Mik9eA26Q5VKG2Yl5GPMH0pC_"
        + "ElkSFHC2AQb9d_S-cNHn1GIJ89NT6gKVSPVvlI6BB4BjtA2Jo9MZuo0HhQ"
    /// Its public point as `openssl ec -text` prints it.
    static let publicPoint =
        "04e61d8c8a4f5e036e90e55286d9897918f307d290bf1259121470b60106fd77f4be70d1e7d46209f3d353ea029548f56f"
        + "948e81078063b40d89a3d319ba8d0785"
    static let message = Array("eyJhbGciOiJFUzI1NiJ9.known answer".utf8)
    /// `openssl dgst -sha256 -sign key.pem` of `message`, DER (both integers padded to 33 bytes).
    static let opensslSignature =
        "MEYCIQDuLJ8xxEQDhi_iHaxv5SDk69E5kI7gVQ8TloW4gB37cgIhAIoRO128601qWzD-iWXvNiLFjPhWZX5PoprCdH4oRut-"
    /// The same as JWS r || s (`openssl asn1parse` of it).
    static let opensslRS =
        "ee2c9f31c44403862fe21dac6fe520e4ebd139908ee0550f139685b8801dfb72"
        + "8a113b5dbceb4d6a5b30fe8965ef3622c58cf856657e4fa29ac2747e2846eb7e"

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test func aSignatureOpenSSLMadeVerifiesHere() throws {
        let key = try P256Key(privateKey: try #require(Base64URL.decode(Self.privateKey)))
        #expect(Self.hex(key.publicKey) == Self.publicPoint)
        let der = try #require(Base64URL.decode(Self.opensslSignature))
        let raw = try #require(P256Key.jwsSignature(fromDER: der))
        #expect(Self.hex(raw) == Self.opensslRS)
        let verifier = try P256Key(x: key.x, y: key.y)
        #expect(verifier.verify(raw, of: Self.message))
        #expect(!verifier.verify(raw, of: Self.message + [0x20]))
        var flipped = raw
        flipped[63] ^= 1
        #expect(!verifier.verify(flipped, of: Self.message))
        // The DER form itself, or r || s cut or padded, is not a JWS signature.
        #expect(!verifier.verify(try #require(Base64URL.decode(Self.opensslSignature)), of: Self.message))
        #expect(!verifier.verify(Array(raw.prefix(63)), of: Self.message))
        #expect(!verifier.verify(raw + [0], of: Self.message))
        // r = 0 or s = 0 never verifies.
        #expect(!verifier.verify([UInt8](repeating: 0, count: 32) + raw.suffix(32), of: Self.message))
        #expect(!verifier.verify(raw.prefix(32) + [UInt8](repeating: 0, count: 32), of: Self.message))
    }

    /// Both ways to sign: a nonce made for the signature, and one made ahead of time
    /// (``P256Nonces``).
    @Test(arguments: [false, true]) func aSignatureMadeHereVerifiesWithOpenSSL(nonceMadeAhead: Bool) throws {
        let nonces = P256Nonces(capacity: 1)
        if nonceMadeAhead { #expect(nonces.addBatch() == .added) }
        let key = try P256Key(privateKey: try #require(Base64URL.decode(Self.privateKey)), nonces: nonces)
        let signature = try key.sign(Self.message)
        #expect(nonces.signatures.fromPool == (nonceMadeAhead ? 1 : 0))
        #expect(nonces.count == 0)
        #expect(signature.count == 64)
        #expect(key.verify(signature, of: Self.message))
        let directory = NSTemporaryDirectory() + "p256-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The public key as SubjectPublicKeyInfo PEM, the signature as DER: what openssl reads.
        let info =
            [
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86,
                0x48,
                0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ] + key.publicKey
        let pem = "-----BEGIN PUBLIC KEY-----\n\(Data(info).base64EncodedString())\n-----END PUBLIC KEY-----\n"
        try Data(pem.utf8).write(to: URL(fileURLWithPath: directory + "/pub.pem"))
        try Data(Self.message).write(to: URL(fileURLWithPath: directory + "/message"))
        let der = try #require(P256Key.derSignature(fromJWS: signature))
        try Data(der).write(to: URL(fileURLWithPath: directory + "/signature"))
        func opensslVerifies(_ message: String) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "openssl", "dgst", "-sha256", "-verify", directory + "/pub.pem", "-signature", directory + "/signature",
                directory + "/" + message,
            ]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = output
            try process.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitForExit()
            return (process.terminationStatus, text)
        }
        let (status, text) = try opensslVerifies("message")
        #expect(status == 0 && text.contains("Verified OK"), "openssl: \(status) \(text)")
        try Data(Self.message + [0x20]).write(to: URL(fileURLWithPath: directory + "/other"))
        let (otherStatus, _) = try opensslVerifies("other")
        #expect(otherStatus != 0)
        // Round trip of the signature's forms.
        #expect(P256Key.jwsSignature(fromDER: der) == signature)
    }

    /// One key signing from many threads at once: its signing contexts are reused, each by
    /// one signer at a time; every signature must verify, and no two may be the same (a
    /// fresh nonce each).
    @Test func oneKeySignsFromManyThreadsAtOnce() async throws {
        let key = try P256Key.generate()
        let signatures = try await withThrowingTaskGroup(of: [([UInt8], [UInt8])].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    try (0..<200).map { round in
                        let message = Array("message \(worker) \(round)".utf8)
                        return (message, try key.sign(message))
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(signatures.count == 1_600)
        #expect(signatures.allSatisfy { key.verify($0.1, of: $0.0) })
        #expect(!signatures.contains { key.verify($0.1, of: $0.0 + [0]) })
        #expect(Set(signatures.map(\.1)).count == 1_600)
    }

    @Test func keysOfAnotherKindOrCurveAreRefused() throws {
        // An Ed25519 key in PKCS #8 DER; a point that is not on P-256; bytes that are no key.
        let ed25519 = try #require(
            Base64URL.decode("MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v_VpguoSvSsREWUlsjJkbcOnArAcrkdYtlCEI"))
        #expect(throws: SignatureError.self) { try P256Key(privateKey: ed25519) }
        #expect(throws: SignatureError.self) { try P256Key(publicKey: [0x04] + [UInt8](repeating: 1, count: 64)) }
        #expect(throws: SignatureError.self) { try P256Key(privateKey: [0x30, 0x00]) }
        let generated = try P256Key.generate()
        let reloaded = try P256Key(privateKey: try #require(generated.privateKey))
        #expect(reloaded.publicKey == generated.publicKey)
        #expect(generated.verify(try reloaded.sign(Self.message), of: Self.message))
    }
}
