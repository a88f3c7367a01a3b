import COpenSSL
import TestSupport
import Testing

@testable import DataProtection

/// The published AES-256-GCM test vector (McGrew and Viega, "The Galois/Counter Mode of
/// Operation", test case 16: 60 bytes of plaintext, 20 of associated data), through every
/// way the module seals and opens.
@Suite(.ownThreads) struct GCMStepsTests {
    let key = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    let nonce = hex("cafebabefacedbaddecaf888")
    let associatedData = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    let plaintext = hex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
    let ciphertextAndTag = hex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
            + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
            + "76fc6ece0f4e1768cddf8853bb2d551b")

    @Test func sealingWithTheVectorsNonceGivesItsCiphertextAndTag() throws {
        let context = try AESGCM.freshContext(encrypting: true)
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: plaintext.count + AESGCM.tagSize)
        let ok = output.withUnsafeMutableBufferPointer { out in
            key.withUnsafeBytes { key in
                nonce.withUnsafeBufferPointer { nonce in
                    associatedData.withUnsafeBytes { ad in
                        plaintext.withUnsafeBytes { plain in
                            GCMSteps.seal(
                                context, key: key, nonce: nonce.baseAddress!, associatedData: ad, plaintext: plain,
                                into: out.baseAddress!)
                        }
                    }
                }
            }
        }
        #expect(ok)
        #expect(output == ciphertextAndTag)
    }

    @Test func everyOpenerOpensTheVectorAndRefusesItChanged() throws {
        let sealed = nonce + ciphertextAndTag
        #expect(
            try sealed.withUnsafeBytes { try AESGCM.open($0, key: key, associatedData: associatedData) } == plaintext)

        let context = try AESGCMContext()
        let opened = try sealed.withUnsafeBytes { sealed in
            try key.withUnsafeBytes { key in
                try associatedData.withUnsafeBytes { try context.open(sealed, key: key, associatedData: $0) }
            }
        }
        #expect(opened == plaintext)

        var output = [UInt8](repeating: 0, count: plaintext.count)
        try key.withUnsafeBytes { key in
            try context.withOpener(key: key) { opener in
                try sealed.withUnsafeBytes { sealed in
                    try associatedData.withUnsafeBytes { ad in
                        try output.withUnsafeMutableBytes { try opener.open(sealed, associatedData: ad, into: $0) }
                    }
                }
            }
        }
        #expect(output == plaintext)

        for flipped in [0, AESGCM.nonceSize, sealed.count - 1] {
            var changed = sealed
            changed[flipped] ^= 0x01
            #expect(throws: DataProtectionError.tampered) {
                try changed.withUnsafeBytes { _ = try AESGCM.open($0, key: key, associatedData: associatedData) }
            }
        }
    }
}

private func hex(_ text: String) -> [UInt8] { KeyEncryptionKey.hex(text)! }
