import COpenSSL
import EventLog
import Foundation
import TestSupport
import Testing

/// The discovery document, the JWK Set and both token algorithms, against a real authd; the
/// tokens also verified by an independent library (PyJWT) from the discovery document alone.
@Suite(.ownThreads) struct DiscoveryTests {
    let password = "a discovery passphrase"

    func register(_ server: RunningServer, _ email: String) async throws {
        let reply = try await server.call(
            "POST", "/v1/users", json: ["email": email, "password": password, "first_name": "D", "last_name": "T"])
        #expect(reply.status == 201, "register \(email): \(reply.status)")
    }

    func login(_ server: RunningServer, _ email: String) async throws -> String {
        let reply = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
        #expect(reply.status == 200, "login \(email): \(reply.status)")
        return try #require(reply.json["access_token"] as? String)
    }

    /// A token's header or claims (part 0 or 1), decoded without any check.
    func part(_ index: Int, of token: String) throws -> [String: Any] {
        let text = try #require(token.split(separator: ".", omittingEmptySubsequences: false).dropFirst(index).first)
        let bytes = try #require(Base64URL.decode(text))
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    func keySet(_ server: RunningServer) async throws -> [[String: Any]] {
        let reply = try await server.call("GET", "/.well-known/jwks.json")
        #expect(reply.status == 200)
        return try #require(reply.json["keys"] as? [[String: Any]])
    }

    /// An authd on `data` reachable at its public URL: started once on port 0 to be given a
    /// free port by the system, then again on that port with `--public-url` naming it (the
    /// port was this test's own process's a moment before).
    func serverAtItsPublicURL(data: String, arguments: [String]) throws -> (RunningServer, port: Int) {
        let probe = try RunningServer(arguments: arguments, data: data)
        let port = probe.port
        probe.kill()
        return (try restarted(data: data, port: port, arguments: arguments), port)
    }

    func restarted(data: String, port: Int, arguments: [String]) throws -> RunningServer {
        try RunningServer(
            arguments: arguments + ["--port", "\(port)", "--public-url", "http://127.0.0.1:\(port)"], data: data)
    }

    /// tools/verify-token.py (PyJWT) on `tokens`: one result a token.
    func verifiedByPyJWT(issuer: String, _ tokens: [String]) throws -> (status: Int32, results: [[String: Any]]) {
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root.deleteLastPathComponent()
        }
        // Loopback only: no proxy of the caller's environment in the way.
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.lowercased().hasSuffix("_proxy") }
        let run = try runProcess(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["python3", root.appendingPathComponent("tools/verify-token.py").path, issuer],
            environment: environment, input: tokens.joined(separator: "\n") + "\n")
        try #require(
            run.status != 3,
            "PyJWT and cryptography are needed (./build.sh test puts them on the PATH: PATH=\"$(tools/python-tools.sh):$PATH\"): \(run.stderr)"
        )
        let results = run.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(results.count == tokens.count, "verify-token.py: \(run.status) \(run.stdout) \(run.stderr)")
        return (run.status, results)
    }

    @Test func theDocumentNamesTheTokensIssuerAndAnAbsoluteKeySet() async throws {
        let server = try RunningServer(arguments: ["--public-url", "https://auth.example.com/base/"])
        let reply = try await server.call("GET", "/.well-known/openid-configuration")
        #expect(reply.status == 200 && reply.headers["content-type"] == "application/json")
        let document = reply.json
        #expect(document["issuer"] as? String == "https://auth.example.com/base")
        #expect(document["jwks_uri"] as? String == "https://auth.example.com/base/.well-known/jwks.json")
        #expect(document["id_token_signing_alg_values_supported"] as? [String] == ["ES256"])
        #expect(document["subject_types_supported"] as? [String] == ["public"])
        #expect((document["response_types_supported"] as? [Any])?.isEmpty == true)

        try await register(server, "iss@example.com")
        let token = try await login(server, "iss@example.com")
        let header = try part(0, of: token)
        let claims = try part(1, of: token)
        #expect(header["alg"] as? String == "ES256" && header["typ"] as? String == "at+jwt")
        #expect(claims["iss"] as? String == "https://auth.example.com/base")
        #expect(claims["aud"] as? String == "https://auth.example.com/base")
        let keys = try await keySet(server)
        #expect(keys.count == 1)
        let key = try #require(keys.first)
        #expect(key["kid"] as? String == header["kid"] as? String)
        #expect(key["kty"] as? String == "EC" && key["crv"] as? String == "P-256" && key["alg"] as? String == "ES256")
        #expect(key["use"] as? String == "sig" && key["d"] == nil)
        #expect((key["x"] as? String).flatMap { Base64URL.decode($0) }?.count == 32)
        #expect((key["y"] as? String).flatMap { Base64URL.decode($0) }?.count == 32)

        // --issuer names the issuer (the behaviour before discovery: "authlog") in both places.
        let named = try RunningServer(arguments: ["--issuer", "authlog", "--token-algorithm", "eddsa"])
        let namedDocument = try await named.call("GET", "/.well-known/openid-configuration").json
        #expect(namedDocument["issuer"] as? String == "authlog")
        #expect(namedDocument["id_token_signing_alg_values_supported"] as? [String] == ["EdDSA"])
        try await register(named, "named@example.com")
        let namedToken = try await login(named, "named@example.com")
        #expect(try part(1, of: namedToken)["iss"] as? String == "authlog")
        #expect(try part(0, of: namedToken)["alg"] as? String == "EdDSA")
        #expect(try await named.call("GET", "/v1/users/me", token: namedToken).status == 200)
    }

    @Test func anUnknownTokenAlgorithmStopsAuthdAtStart() throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        for given in ["rs256", "HS256", "none", ""] {
            let run = try runProcess(
                products().appendingPathComponent("authd"),
                ["--data", data, "--port", "0", "--token-algorithm", given], environment: environment)
            #expect(
                run.status == 64 && run.stderr.contains("--token-algorithm"), "\(given): \(run.status) \(run.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: data + "/signing-keys"))
    }

    /// A data directory from before ES256 (Ed25519 keys only) started with the default
    /// algorithm: an ES256 key is added, its tokens and the EdDSA ones both verify, in authd
    /// and in PyJWT given nothing but the issuer.
    @Test func anIndependentLibraryVerifiesTokensOfBothAlgorithmsFromDiscoveryAlone() async throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let (before, port) = try serverAtItsPublicURL(data: data, arguments: ["--token-algorithm", "eddsa"])
        let issuer = "http://127.0.0.1:\(port)"
        try await register(before, "ed@example.com")
        let eddsa = try await login(before, "ed@example.com")
        #expect(try part(0, of: eddsa)["alg"] as? String == "EdDSA")
        #expect(try await keySet(before).map { $0["kty"] as? String } == ["OKP"])
        before.kill()

        let server = try restarted(data: data, port: port, arguments: [])
        let document = try await server.call("GET", "/.well-known/openid-configuration").json
        #expect(document["issuer"] as? String == issuer)
        #expect(document["jwks_uri"] as? String == issuer + "/.well-known/jwks.json")
        #expect(document["id_token_signing_alg_values_supported"] as? [String] == ["ES256", "EdDSA"])
        let keys = try await keySet(server)
        #expect(keys.map { $0["kty"] as? String } == ["OKP", "EC"])
        #expect(keys.map { $0["alg"] as? String } == ["EdDSA", "ES256"])
        try await register(server, "ec@example.com")
        let es256 = try await login(server, "ec@example.com")
        #expect(try part(0, of: es256)["alg"] as? String == "ES256")
        #expect(try await server.call("GET", "/v1/users/me", token: eddsa).status == 200)
        #expect(try await server.call("GET", "/v1/users/me", token: es256).status == 200)

        let (status, results) = try verifiedByPyJWT(issuer: issuer, [eddsa, es256])
        #expect(status == 0, "\(results)")
        #expect(results.map { $0["alg"] as? String } == ["EdDSA", "ES256"])
        #expect(results[0]["sub"] as? String == (try part(1, of: eddsa)["sub"] as? String))
        #expect(results[1]["sub"] as? String == (try part(1, of: es256)["sub"] as? String))
        // The same library refuses a token altered after signing.
        var altered = Array(es256.utf8)
        altered[altered.count - 2] =
            altered[altered.count - 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let refused = try verifiedByPyJWT(issuer: issuer, [String(decoding: altered, as: UTF8.self)])
        #expect(refused.status == 1 && refused.results.first?["error"] != nil, "\(refused.results)")
    }

    /// `--rotate-signing-key` adds a key of the configured algorithm, which signs once authd
    /// restarts; tokens of the older keys, of either kind, still verify.
    @Test func aRotatedKeySignsAfterARestartAndTheOlderKeysTokensStillVerify() async throws {
        let data = NSTemporaryDirectory() + "authd-test-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let first = try RunningServer(data: data)
        try await register(first, "a@example.com")
        let a = try await login(first, "a@example.com")
        first.kill()
        let environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
        let authd = products().appendingPathComponent("authd")
        let rotation = try runProcess(authd, ["--data", data, "--rotate-signing-key"], environment: environment)
        #expect(rotation.status == 0 && rotation.stdout.contains("added ES256 signing key"), "\(rotation.stderr)")

        let second = try RunningServer(data: data)
        let keys = try await keySet(second)
        #expect(keys.map { $0["kty"] as? String } == ["EC", "EC"])
        try await register(second, "b@example.com")
        let b = try await login(second, "b@example.com")
        let kidA = try part(0, of: a)["kid"] as? String
        let kidB = try part(0, of: b)["kid"] as? String
        #expect(kidA != kidB && kidB == keys.last?["kid"] as? String && kidA == keys.first?["kid"] as? String)
        #expect(try await second.call("GET", "/v1/users/me", token: a).status == 200)
        #expect(try await second.call("GET", "/v1/users/me", token: b).status == 200)
        second.kill()

        let toEdDSA = try runProcess(
            authd, ["--data", data, "--rotate-signing-key", "--token-algorithm", "eddsa"], environment: environment)
        #expect(toEdDSA.status == 0 && toEdDSA.stdout.contains("added EdDSA signing key"), "\(toEdDSA.stderr)")
        let third = try RunningServer(arguments: ["--token-algorithm", "eddsa"], data: data)
        #expect(try await keySet(third).map { $0["kty"] as? String } == ["EC", "EC", "OKP"])
        try await register(third, "c@example.com")
        let c = try await login(third, "c@example.com")
        #expect(try part(0, of: c)["alg"] as? String == "EdDSA")
        for token in [a, b, c] {
            #expect(try await third.call("GET", "/v1/users/me", token: token).status == 200)
        }
        let document = try await third.call("GET", "/.well-known/openid-configuration").json
        #expect(document["id_token_signing_alg_values_supported"] as? [String] == ["EdDSA", "ES256"])
    }

    /// A token whose header names another algorithm than its key's is refused: `none`, HS256
    /// keyed with the public key in any of the forms it is published in, EdDSA over the P-256
    /// key, and a header without a kid. The untouched token is accepted (so the refusals are
    /// the algorithm's, not the claims').
    @Test func algorithmConfusionIsRefused() async throws {
        let server = try RunningServer()
        try await register(server, "alg@example.com")
        let token = try await login(server, "alg@example.com")
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200)
        let parts = token.split(separator: ".").map(String.init)
        let kid = try #require(try part(0, of: token)["kid"] as? String)
        let jwksBody = try await server.call("GET", "/.well-known/jwks.json").body
        let jwk = try #require(try await keySet(server).first)
        let x = try #require((jwk["x"] as? String).flatMap { Base64URL.decode($0) })
        let y = try #require((jwk["y"] as? String).flatMap { Base64URL.decode($0) })
        let point = [0x04] + x + y
        let info: [UInt8] =
            [
                0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01, 0x06, 0x08, 0x2A, 0x86,
                0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
            ] + point
        let pem = "-----BEGIN PUBLIC KEY-----\n\(Data(info).base64EncodedString())\n-----END PUBLIC KEY-----\n"

        func headed(_ header: String) -> String { Base64URL.encode(Array(header.utf8)) + "." + parts[1] }
        func hs256(_ secret: [UInt8]) -> String {
            let input = headed(#"{"alg":"HS256","kid":"\#(kid)","typ":"at+jwt"}"#)
            var mac = [UInt8](repeating: 0, count: 32)
            var length: UInt32 = 32
            _ = HMAC(EVP_sha256(), secret, Int32(secret.count), Array(input.utf8), input.utf8.count, &mac, &length)
            return input + "." + Base64URL.encode(mac)
        }
        let forged: [(String, String)] = [
            ("none", headed(#"{"alg":"none","kid":"\#(kid)","typ":"at+jwt"}"#) + "."),
            ("none, no kid", headed(#"{"alg":"none","typ":"at+jwt"}"#) + "."),
            ("HS256 keyed with the point", hs256(point)),
            ("HS256 keyed with x", hs256(x)),
            ("HS256 keyed with the PEM", hs256(Array(pem.utf8))),
            ("HS256 keyed with the JWK Set", hs256(Array(jwksBody))),
            ("EdDSA over the P-256 key", headed(#"{"alg":"EdDSA","kid":"\#(kid)","typ":"at+jwt"}"#) + "." + parts[2]),
            ("ES384", headed(#"{"alg":"ES384","kid":"\#(kid)","typ":"at+jwt"}"#) + "." + parts[2]),
            ("no kid", headed(#"{"alg":"ES256","typ":"at+jwt"}"#) + "." + parts[2]),
        ]
        for (name, forgery) in forged {
            let reply = try await server.call("GET", "/v1/users/me", token: forgery)
            #expect(reply.status == 401 && reply.code == "unauthorized", "\(name): \(reply.status)")
        }
        #expect(try await server.call("GET", "/v1/users/me", token: token).status == 200)
    }
}
