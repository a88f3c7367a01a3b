import Foundation
import Signatures
import TestSupport
import Testing

/// Ed25519's signer (swift-crypto) against OpenSSL, the reference: RFC 8032's own test
/// vectors, then random keys and messages, byte for byte.
@Suite(.ownThreads) struct Ed25519SignerTests {
    static func bytes(_ hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    /// RFC 8032, section 7.1, TEST 1 and TEST 2: secret key, public key, message, signature.
    static let vectors: [(secret: String, public: String, message: String, signature: String)] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
                + "d25bf5f0595bbe24655141438e7a100b"
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
                + "387b2eaeb4302aeeb00d291612bb0c00"
        ),
    ]

    @Test func theRFCsVectorsComeOutOfBothSigners() throws {
        for vector in Self.vectors {
            let key = try Ed25519Key(privateKey: Self.bytes(vector.secret))
            #expect(key.publicKey == Self.bytes(vector.public))
            let message = Self.bytes(vector.message)
            #expect(try key.sign(message) == Self.bytes(vector.signature))
            #expect(try key.signWithOpenSSL(message) == Self.bytes(vector.signature))
        }
    }

    @Test func theSignerGivesOpenSSLsBytesForAnyKeyAndMessage() throws {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<300 {
            let key = try Ed25519Key.generate()
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let signature = try key.sign(message)
            #expect(signature == (try key.signWithOpenSSL(message)), "message of \(length) bytes")
            let verifier = try Ed25519Key(publicKey: key.publicKey)
            #expect(verifier.verify(signature, of: message))
            var spoiled = signature
            spoiled[length % 64] ^= 0x01
            #expect(!verifier.verify(spoiled, of: message))
        }
    }

    /// `bytes` (little-endian, 32 bytes) plus the group's order L: the same scalar, spelled
    /// out of range.
    static func plusOrder(_ scalar: ArraySlice<UInt8>) -> [UInt8] {
        // L = 2^252 + 27742317777372353535851937790883648493, little-endian.
        let order = Self.bytes(
            "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
        var sum = [UInt8](repeating: 0, count: 32)
        var carry = 0
        for (index, byte) in scalar.enumerated() {
            let total = Int(byte) + Int(order[index]) + carry
            sum[index] = UInt8(total & 0xff)
            carry = total >> 8
        }
        return sum
    }

    /// Signatures an attacker would try on a head checkpoint: changed bits, the scalar out of
    /// range (S + L, which RFC 8032 says to refuse), all zeros, the identity point as R, the
    /// wrong length; and keys of small order. Both verifiers give the same verdict on each.
    @Test func theVerifierAgreesWithOpenSSLOnForgedAndMalformedSignatures() throws {
        var generator = SystemRandomNumberGenerator()
        var cases = 0
        func check(_ key: Ed25519Key, _ signature: [UInt8], _ message: [UInt8], _ expected: Bool?, _ label: String) {
            let verdict = key.verify(signature, of: message)
            #expect(verdict == key.verifyWithOpenSSL(signature, of: message), "\(label)")
            if let expected { #expect(verdict == expected, "\(label)") }
            cases += 1
        }
        for round in 0..<50 {
            let signer = try Ed25519Key.generate()
            let key = try Ed25519Key(publicKey: signer.publicKey)
            let message = (0..<(round * 7)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let signature = try signer.sign(message)
            check(key, signature, message, true, "valid, round \(round)")
            for bit in [0, 7, 100, 255, 256, 300, 511] {
                var spoiled = signature
                spoiled[bit / 8] ^= UInt8(1 << (bit % 8))
                check(key, spoiled, message, false, "signature bit \(bit), round \(round)")
            }
            if !message.isEmpty {
                var changed = message
                changed[round % message.count] ^= 0x80
                check(key, signature, changed, false, "message changed, round \(round)")
            }
            check(
                key, Array(signature[0..<32]) + Self.plusOrder(signature[32..<64]), message, false,
                "S + L, round \(round)")
            check(key, [UInt8](repeating: 0, count: 64), message, false, "zeros, round \(round)")
            let identity: [UInt8] = [1] + [UInt8](repeating: 0, count: 31)
            check(key, identity + [UInt8](repeating: 0, count: 32), message, false, "R identity, S 0, round \(round)")
            check(key, Array(signature.dropLast()), message, false, "63 bytes, round \(round)")
            check(key, signature + [0], message, false, "65 bytes, round \(round)")
        }
        // Keys of small order (never this package's: its keys come from private keys) with
        // signatures that hold for them: the two need only agree.
        for encoded in [
            [1] + [UInt8](repeating: 0, count: 31),  // the identity
            [0xec] + [UInt8](repeating: 0xff, count: 30) + [0x7f],  // order 2: y = -1
        ] {
            guard let key = try? Ed25519Key(publicKey: encoded) else { continue }
            let identity: [UInt8] = [1] + [UInt8](repeating: 0, count: 31)
            check(key, identity + [UInt8](repeating: 0, count: 32), [1, 2, 3], nil, "small-order key \(encoded[0])")
        }
        #expect(cases > 500)
    }

    @Test func aKeyMadeFromItsPublicHalfCannotSign() throws {
        let verifier = try Ed25519Key(publicKey: try Ed25519Key.generate().publicKey)
        #expect(throws: SignatureError.self) { try verifier.sign([1, 2, 3]) }
        #expect(throws: SignatureError.self) { try verifier.signWithOpenSSL([1, 2, 3]) }
    }
}
