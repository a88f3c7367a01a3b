import AccessTokens
import DataProtection
import EventLog
import Foundation
import Signatures
import TestSupport
import Testing

/// authd's access-token signing keys are sealed under the data directory's key: a copy of
/// the directory taken without the key-encryption key (a stolen backup, with the KEK kept
/// elsewhere) makes no token authd accepts; a directory from before sealed keys is sealed at
/// start and keeps its keys.
@Suite(.ownThreads) struct SealedSigningKeysTests {
    let password = "correct horse battery"

    /// A KEK file outside the data directory, as operations.md advises; removed by the caller.
    func kekOutside() throws -> String {
        let file = NSTemporaryDirectory() + "authd-kek-" + UUID().uuidString
        try SecretFile.create(file, contents: Array((try KeyEncryptionKey.generate().text + "\n").utf8))
        return file
    }

    /// A user signed in: their access token's claims, to forge others like them.
    func signIn(_ server: RunningServer, _ email: String) async throws -> (token: String, claims: [String: Any]) {
        let registered = try await server.call(
            "POST", "/v1/users", json: ["email": email, "password": password, "first_name": "A", "last_name": "B"])
        #expect(registered.status == 201)
        let login = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
        let token = try #require(login.json["access_token"] as? String)
        let payload = try #require(Base64URL.decode(token.split(separator: ".")[1]))
        return (token, try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]))
    }

    func forged(_ claims: [String: Any], kid: String, key: TokenKey) throws -> String {
        let issuer = try AccessTokenIssuer(
            issuer: "authlog", audience: "authlog", keys: SigningKeys(keys: [(kid, key)], algorithm: key.algorithm))
        let now = Int64(Date().timeIntervalSince1970)
        return try issuer.sign(
            AccessClaims(
                issuer: "authlog", audience: "authlog",
                subject: try #require(UUID(uuidString: claims["sub"] as? String ?? "")), role: "ADMIN",
                sessionID: try #require(UUID(uuidString: claims["sid"] as? String ?? "")), issuedAt: now,
                lifetime: 900, tokenID: UUID().uuidString))
    }

    /// The attacker holds a copy of the data directory and not the KEK. They take every field
    /// of every line of `signing-keys` that reads as a private key, sign a token for a live
    /// session with it under that line's kid, and present it. Before the keys were sealed,
    /// the file's keys were in the clear and the forged token was accepted (200).
    @Test func aCopyOfTheDirectoryWithoutTheKEKMakesNoTokenAuthdAccepts() async throws {
        let kek = try kekOutside()
        defer { unlink(kek) }
        let server = try RunningServer(arguments: ["--issuer", "authlog"], environment: ["AUTHLOG_KEK_FILE": kek])
        let (token, claims) = try await signIn(server, "victim@example.com")
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200)

        let copy = try String(contentsOfFile: server.data + "/signing-keys", encoding: .utf8)
        var keysFound = 0
        var accepted: [String] = []
        for line in copy.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            for field in fields.dropFirst() {
                guard let bytes = Base64URL.decode(field), let key = try? TokenKey(privateKey: bytes) else { continue }
                keysFound += 1
                let reply = try await server.call(
                    "GET", "/v1/users/me", token: try forged(claims, kid: fields[0], key: key))
                if reply.status == 200 { accepted.append(fields[0]) }
            }
        }
        #expect(keysFound == 0, "private keys readable in the copy: \(keysFound)")
        #expect(accepted.isEmpty, "tokens signed with the copy's keys were accepted, kids \(accepted)")
        #expect(!copy.isEmpty)
    }

    /// A data directory from before sealed keys (`kid key` in the clear): authd seals the file
    /// at start, says so, and keeps the key: a token signed with it before still works.
    @Test func aDirectoryFromBeforeSealedKeysIsSealedAtStartAndKeepsItsKey() async throws {
        let key = try TokenKey.generate(.es256)
        let kid = Base64URL.encode(key.publicKeyID)
        let server = try RunningServer(arguments: ["--issuer", "authlog"]) { data in
            try SecretFile.create(
                data + "/signing-keys", contents: Array("\(kid) \(Base64URL.encode(key.privateKey!))\n".utf8))
        }
        #expect(server.startupOutput.contains("sealed the access-token signing keys"))
        let text = try String(contentsOfFile: server.data + "/signing-keys", encoding: .utf8)
        #expect(text.hasPrefix("\(kid) sealed ") && !text.contains(Base64URL.encode(key.privateKey!)))
        #expect(text.split(separator: "\n").count == 1)

        let (_, claims) = try await signIn(server, "kept@example.com")
        let reply = try await server.call("GET", "/v1/users/me", token: try forged(claims, kid: kid, key: key))
        #expect(reply.status == 200, "a token of the key from before: \(reply.status)")
        let held = try SigningKeys.of(dataDirectory: server.data).jwks["keys"] as? [[String: String]]
        #expect(held?.map { $0["kid"] } == [kid])
    }

    /// `authd --rotate-signing-key` on a file from before sealed keys, with the KEK outside
    /// the directory: the old key is sealed too, the new one added sealed, and the file
    /// opens with that KEK only.
    @Test func aRotationOnAFileInTheClearSealsEveryKey() throws {
        let kek = try kekOutside()
        defer { unlink(kek) }
        let data = NSTemporaryDirectory() + "authd-rotate-clear-" + UUID().uuidString
        try SecretFile.makeDirectory(data)
        defer { try? FileManager.default.removeItem(atPath: data) }
        let key = try TokenKey.generate(.es256)
        let kid = Base64URL.encode(key.publicKeyID)
        try SecretFile.create(
            data + "/signing-keys", contents: Array("\(kid) \(Base64URL.encode(key.privateKey!))\n".utf8))
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        environment["AUTHLOG_KEK_FILE"] = kek
        let rotated = try runProcess(
            products().appendingPathComponent("authd"), ["--data", data, "--rotate-signing-key"],
            environment: environment)
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(rotated.stdout.contains("now sealed: 1"), "\(rotated.stdout)")
        let lines = try String(contentsOfFile: data + "/signing-keys", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2 && lines.allSatisfy { $0.split(separator: " ")[1] == "sealed" }, "\(lines)")
        #expect(lines[0].hasPrefix(kid + " "))
        let held = try SigningKeys.of(dataDirectory: data, environment: ["AUTHLOG_KEK_FILE": kek])
        #expect((held.jwks["keys"] as? [[String: String]])?.count == 2)
        // Another KEK opens nothing of the directory.
        let other = try kekOutside()
        defer { unlink(other) }
        #expect(throws: (any Error).self) {
            try SigningKeys.of(dataDirectory: data, environment: ["AUTHLOG_KEK_FILE": other])
        }
    }
}
