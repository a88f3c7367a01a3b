import DataProtection
import EventLog
import Foundation
import Signatures
import Synchronization
import TestSupport
import Testing

@testable import AccessTokens

/// `DATA/signing-keys` holds its keys sealed under the data directory's key: what a copy of
/// the file alone gives, what a changed or moved line does, and how a file from before sealed
/// keys is sealed in place.
@Suite(.ownThreads) struct SealedKeyFileTests {
    let sealing = FileSealingKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })

    func newFile() -> String { NSTemporaryDirectory() + "sealed-keys-" + UUID().uuidString }

    func claims() -> AccessClaims {
        AccessClaims(
            issuer: "authlog", audience: "authlog", subject: UUID(), role: "ADMIN", sessionID: UUID(),
            issuedAt: 1_000, lifetime: 900, tokenID: "jti-1")
    }

    func issuer(_ keys: SigningKeys) -> AccessTokenIssuer {
        AccessTokenIssuer(issuer: "authlog", audience: "authlog", keys: keys)
    }

    /// The file holds no private key: none of its fields is a key, and neither the signing
    /// key's bytes nor their base64url text appear in it.
    @Test func theFileHoldsNoKeyInTheClear() throws {
        let file = newFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let keys = try SigningKeys(file: file, sealing: sealing)
        try SigningKeys.append(to: file, algorithm: .eddsa, sealing: sealing)
        let all = try SigningKeys(file: file, sealing: sealing).keys
        #expect(all.count == 2)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let text = String(decoding: bytes, as: UTF8.self)
        for (kid, key) in all {
            let secret = try #require(key.privateKey)
            #expect(!text.contains(Base64URL.encode(secret)), "\(kid)'s key in base64url")
            #expect(!bytes.contains(subsequence: secret), "\(kid)'s key as bytes")
        }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            #expect(fields.count == 3 && fields[1] == "sealed")
            for field in fields {
                #expect((try? TokenKey(privateKey: Base64URL.decode(field) ?? [])) == nil, "\(field) is a key")
            }
        }
        #expect(keys.keys.first?.kid == all.first?.kid)
    }

    /// Another data directory's key opens nothing: the error names the line.
    @Test func anotherDirectorysKeyOpensNothing() throws {
        let file = newFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = try SigningKeys(file: file, sealing: sealing)
        let other = FileSealingKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        let error = #expect(throws: AccessTokenError.self) { try SigningKeys(file: file, sealing: other) }
        #expect("\(error!)".contains("line 1") && "\(error!)".contains("does not open"))
    }

    /// Each key is sealed for its kid: two lines whose kids are swapped open neither, so a
    /// key cannot be passed off under another key's id.
    @Test func aKeyMovedToAnotherKidDoesNotOpen() throws {
        let file = newFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let first = try SigningKeys.append(to: file, sealing: sealing)
        let second = try SigningKeys.append(to: file, sealing: sealing)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let swapped = [
            lines[0].replacingOccurrences(of: first + " ", with: second + " "),
            lines[1].replacingOccurrences(of: second + " ", with: first + " "),
        ]
        try (swapped.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: AccessTokenError.self) { try SigningKeys(file: file, sealing: sealing) }
        #expect("\(error!)".contains("line 1"))
    }

    /// A file from before sealed keys: reading refuses it by line; sealing keeps every kid in
    /// its order, tokens signed before still verify, and the old file's bytes are zeros (read
    /// through a descriptor of the old file, opened before).
    @Test func aFileInTheClearIsSealedInPlaceAndItsOldBytesZeroed() throws {
        let file = newFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let ed = try TokenKey.generate(.eddsa)
        let ec = try TokenKey.generate(.es256)
        let plain = [ed, ec].map { "\(Base64URL.encode($0.publicKeyID)) \(Base64URL.encode($0.privateKey!))\n" }
        #expect(
            FileManager.default.createFile(
                atPath: file, contents: Data(plain.joined().utf8), attributes: [.posixPermissions: 0o600]))
        let before = try issuer(SigningKeys(keys: [(Base64URL.encode(ec.publicKeyID), ec)])).sign(claims())
        let refused = #expect(throws: AccessTokenError.self) { try SigningKeys(file: file, sealing: sealing) }
        #expect("\(refused!)".contains("line 1") && "\(refused!)".contains("in the clear"))
        let probe = open(file, O_RDONLY)
        defer { close(probe) }

        let result = try SigningKeys.sealKeysInTheClear(in: file, sealing: sealing)
        #expect(result == SigningKeys.SealingReport(sealed: 2, oldBytesNotOverwritten: nil))
        var old = [UInt8](repeating: 1, count: plain.joined().utf8.count)
        #expect(pread(probe, &old, old.count, 0) == old.count && old.allSatisfy { $0 == 0 })
        let keys = try SigningKeys(file: file, sealing: sealing)
        #expect(keys.keys.map(\.kid) == [ed, ec].map { Base64URL.encode($0.publicKeyID) })
        #expect(try issuer(keys).verify(before, now: 1_000).tokenID == "jti-1")
        #expect(try SigningKeys.sealKeysInTheClear(in: file, sealing: sealing) == SigningKeys.SealingReport())
    }

    /// A key added while another process seals a file in the clear (authd starting beside
    /// `authd --rotate-signing-key`) is kept: both hold the file's lock, so the append lands
    /// in the sealed file, not in the old one that sealing replaces and zeroes.
    @Test func aKeyAddedWhileTheFileIsSealedIsKept() throws {
        for _ in 0..<20 {
            let file = newFile()
            defer { try? FileManager.default.removeItem(atPath: file) }
            let plain = try (0..<64).map { _ -> String in
                let key = try TokenKey.generate(.eddsa)
                return "\(Base64URL.encode(key.publicKeyID)) \(Base64URL.encode(key.privateKey!))\n"
            }
            #expect(FileManager.default.createFile(atPath: file, contents: Data(plain.joined().utf8)))
            let sealing = self.sealing
            let added = Mutex<String?>(nil)
            let done = DispatchSemaphore(value: 0)
            let appender = Thread {
                added.withLock { $0 = try? SigningKeys.append(to: file, sealing: sealing) }
                done.signal()
            }
            appender.start()
            do {
                defer { done.wait() }  // the appender ends before the file is removed
                _ = try SigningKeys.sealKeysInTheClear(in: file, sealing: sealing)
            }
            let kids = try SigningKeys.read(file, sealing: sealing).map(\.kid)
            #expect(kids.count == 65 && kids.last == added.withLock { $0 }, "\(kids.count) keys")
        }
    }

    /// Lines end at LF, CR LF or a lone CR, and the line an error names is the one an editor
    /// shows, empty lines counted.
    @Test func lineEndingsAndTheNumbersErrorsName() throws {
        let file = newFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let first = try SigningKeys.append(to: file, algorithm: .eddsa, sealing: sealing)
        let second = try SigningKeys.append(to: file, sealing: sealing)
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        for ending in ["\r", "\r\n", "\n\n"] {
            try (lines.joined(separator: ending) + ending).write(toFile: file, atomically: true, encoding: .utf8)
            #expect(try SigningKeys.read(file, sealing: sealing).map(\.kid) == [first, second], "\(ending.utf8)")
        }
        try ("\n\r\n" + lines[0] + "\n\n" + lines[1].dropLast(4) + "AAAA\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: AccessTokenError.self) { try SigningKeys.read(file, sealing: sealing) }
        #expect("\(error!)".contains("line 5"), "\(error!)")
    }

    /// A line in the clear that is not a key: an error naming it, and the file is unchanged.
    @Test func aBrokenLineInTheClearIsRefusedAndNothingIsWritten() throws {
        let file = newFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let key = try TokenKey.generate(.eddsa)
        let text = "\(Base64URL.encode(key.publicKeyID)) \(Base64URL.encode(key.privateKey!))\nbad AAAA\n"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(text.utf8)))
        let error = #expect(throws: AccessTokenError.self) {
            try SigningKeys.sealKeysInTheClear(in: file, sealing: sealing)
        }
        #expect("\(error!)".contains("line 2"))
        #expect(try String(contentsOfFile: file, encoding: .utf8) == text)
    }
}

extension Array where Element == UInt8 {
    fileprivate func contains(subsequence: [UInt8]) -> Bool {
        guard !subsequence.isEmpty, subsequence.count <= count else { return false }
        return (0...(count - subsequence.count)).contains { Array(self[$0..<$0 + subsequence.count]) == subsequence }
    }
}
