import AccessTokens
import Crypto
import EventLog
import Foundation
import Signatures

/// Signs and verifies access tokens with each algorithm, on one thread, through the code
/// authd runs (`AccessTokenIssuer` over a `SigningKeys` set), and the bare signatures beside
/// them (`TokenKey` on a token-sized message): what the JWT's JSON and base64 add. Then the
/// bare ES256 signature as swift-crypto (BoringSSL) makes it, the other library in the build,
/// on the same message. Last, ES256 split in two as authd splits it (`P256Nonces`): the
/// nonces made ahead of time, and the bare signatures that take one ready.
///
/// Usage: token-bench [--rounds N] [--seconds S]. Each figure is the median of N rounds of S
/// seconds (5 of 1). Build it in release: swift build -c release --product token-bench.

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Double) -> Double {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count,
        let value = Double(arguments[index + 1]), value > 0
    else { return fallback }
    return value
}
let rounds = Int(option("--rounds", 5))
let seconds = option("--seconds", 1)

/// Operations per second of `body`: the median of the rounds.
func rate(_ body: () throws -> Void) rethrows -> Double {
    var rates: [Double] = []
    for _ in 0..<rounds {
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed: UInt64 = 0
        repeat {
            for _ in 0..<64 { try body() }
            count += 64
            elapsed = DispatchTime.now().uptimeNanoseconds - start
        } while Double(elapsed) < seconds * 1e9
        rates.append(Double(count) / (Double(elapsed) / 1e9))
    }
    return rates.sorted()[rates.count / 2]
}

let now: Int64 = 1_800_000_000
let claims = AccessClaims(
    issuer: "https://auth.example.com", audience: "https://auth.example.com", subject: UUID(), role: "USER",
    sessionID: UUID(), issuedAt: now, lifetime: 900, tokenID: UUID().uuidString.lowercased())
print(
    "algorithm  token-signs/s  token-verifies/s  signs/s  verifies/s  (median of \(rounds) x \(seconds) s, one thread)")
/// The ES256 token's signing input, for the swift-crypto figures below.
var es256Message: [UInt8] = []
for algorithm in [TokenAlgorithm.es256, .eddsa] {
    let key = try TokenKey.generate(algorithm)
    let issuer = AccessTokenIssuer(
        issuer: claims.issuer, audience: claims.audience,
        keys: try SigningKeys(keys: [(Base64URL.encode(key.publicKeyID), key)], algorithm: algorithm))
    let token = try issuer.sign(claims)
    guard try issuer.verify(token, now: now) == claims else { fatalError("a token did not verify") }
    let message = Array(token.split(separator: ".").prefix(2).joined(separator: ".").utf8)
    if algorithm == .es256 { es256Message = message }
    let signature = try key.sign(message)
    var sink = 0
    let tokenSigns = try rate { sink &+= try issuer.sign(claims).utf8.count }
    let tokenVerifies = try rate { sink &+= Int(try issuer.verify(token, now: now).expires) }
    let signs = try rate { sink &+= Int(try key.sign(message)[0]) }
    let verifies = rate { sink &+= key.verify(signature, of: message) ? 1 : 0 }
    print(
        algorithm.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
        String(format: "%13.0f  %16.0f  %7.0f  %10.0f", tokenSigns, tokenVerifies, signs, verifies),
        sink == 42 ? "" : "")
}

// The same bare ES256 signature through swift-crypto, beside OpenSSL's above.
let otherKey = P256.Signing.PrivateKey()
let otherMessage = es256Message
var otherSink = 0
let otherSigns = try rate { otherSink &+= Int(try otherKey.signature(for: otherMessage).rawRepresentation[0]) }
let otherSignature = try otherKey.signature(for: otherMessage)
let otherPublicKey = otherKey.publicKey  // once: each call of `publicKey` copies the key
guard otherPublicKey.isValidSignature(otherSignature, for: otherMessage) else {
    fatalError("a swift-crypto signature did not verify")
}
let otherVerifies = rate {
    otherSink &+= otherPublicKey.isValidSignature(otherSignature, for: otherMessage) ? 1 : 0
}
print(
    "ES256, swift-crypto (bare signatures)".padding(toLength: 43, withPad: " ", startingAt: 0),
    String(format: "%7.0f  %10.0f", otherSigns, otherVerifies), otherSink == 42 ? "" : "")

// ES256 in two parts: nonces made ahead (what authd's idle-time thread does), then bare
// signatures that each take one ready (what a request waits for). 20,000 of each a round.
let batch = 20_000
var makes: [Double] = []
var readySigns: [Double] = []
for _ in 0..<rounds {
    let nonces = P256Nonces(capacity: batch)
    let pooledKey = try P256Key.generate(nonces: nonces)
    var start = DispatchTime.now().uptimeNanoseconds
    while nonces.addBatch() == .added {}
    makes.append(Double(batch) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
    start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<batch { otherSink &+= Int(try pooledKey.sign(es256Message)[0]) }
    readySigns.append(Double(batch) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
    guard nonces.signatures.fromPool == batch else { fatalError("a signature did not take a nonce made ahead") }
}
print(
    "ES256, nonces made ahead: nonces made/s, signs/s with one ready (median of \(rounds) x \(batch)):",
    String(format: "%.0f  %.0f", makes.sorted()[rounds / 2], readySigns.sorted()[rounds / 2]),
    otherSink == 42 ? "" : "")
