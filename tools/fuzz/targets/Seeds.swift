#if !FUZZING
    import AccessTokens
    import AuthDomain
    import EventLog
    import Foundation
    import LMDB
    import LogExport
    import PasswordHashing

    /// Writes the seed corpus of every target into `directory/TARGET/`: inputs the code itself
    /// produces (each event kind encoded, envelopes and export lines of the golden export,
    /// hashes, tokens and access tokens as issued, request bodies as the API documents them),
    /// and a few edge cases. `tools/fuzz/run.sh seeds` runs it.
    enum Seeds {
        static func write(to directory: String, golden: String) throws {
            var seeds: [String: [String: [UInt8]]] = [:]
            func add(_ target: String, _ name: String, _ bytes: some Sequence<UInt8>) {
                seeds[target, default: [:]][name] = Array(bytes)
            }
            let lines = try String(contentsOfFile: golden, encoding: .utf8).split(separator: "\n").map {
                Array($0.utf8)
            }

            // Payloads: one event of each kind, personal parts "sealed" as they are.
            let user = UUID(uuidString: "0193e0a1-0000-7000-8000-0000000000aa")!
            let hash = TokenHash(of: [UInt8](repeating: 7, count: 32))
            let phc =
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
            let events: [UserEvent] = [
                .registered(
                    .init(
                        email: "ada@example.com", passwordHash: phc, firstName: "Ada", lastName: "Lovelace",
                        phone: "+44 20 7946 0000", role: .target)),
                .emailVerificationRequested(.init(tokenHash: hash, expiresAt: Timestamp(microsecondsSince1970: 1))),
                .emailVerified, .loginSucceeded(.init(sessionID: user, refreshTokenHash: hash)),
                .loginFailed(.init(consecutiveFailures: 5, lockedUntil: Timestamp(microsecondsSince1970: .max))),
                .refreshTokenRotated(.init(sessionID: user, refreshTokenHash: hash)),
                .refreshTokenReuseDetected(sessionID: user), .loggedOut(sessionID: user),
                .passwordResetRequested(.init(tokenHash: hash, expiresAt: Timestamp(microsecondsSince1970: .min))),
                .passwordResetCompleted(passwordHash: phc), .passwordChanged(passwordHash: phc),
                .passwordRehashed(passwordHash: phc),
                .profileUpdated(.init(firstName: "Ada", lastName: nil, phone: .some(nil))),
                .roleChanged(from: .target, to: .admin), .stripeCustomerLinked(customerID: "cus_123"), .softDeleted,
                .restored, .erased,
            ]
            let kinds = UserEvent.Kind.allCases
            for event in events {
                let index = UInt8(kinds.firstIndex(of: event.kind)!)
                add("payload", "\(event.kind)", [index, 0] + event.payload { $0 })
                if event.hasPersonalData {
                    add("payload", "\(event.kind)-key-gone", [index, 1] + event.payload { $0 })
                }
            }
            add("payload", "schema-version-2", [0, 2, 0, 2, 0])

            // Export lines and the envelopes they store, one of each event type.
            var types: Set<String> = []
            var position: UInt64 = 0
            for (number, line) in lines.enumerated() {
                let object = try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
                let kind = object["kind"] as! String
                guard kind == "event" else {
                    if kind != "data_key" || !types.contains("data_key") { add("export-line", "\(kind)", line) }
                    types.insert(kind)
                    continue
                }
                position += 1
                let type = object["type"] as! String
                guard types.insert(type).inserted else { continue }
                add("export-line", "event-\(type)", line)
                let stored = try EventLine(line, expectedPosition: position).stored
                add("envelope", "\(type)-line-\(number + 1)", stored)
                if let kind = UserEvent.Kind(name: type) {
                    let payload = try stored.withUnsafeBytes { [UInt8](try Envelope.parse($0).payload) }
                    add("payload", "golden-\(type)", [UInt8(kinds.firstIndex(of: kind)!), 1] + payload)
                }
            }
            add("export-line", "event-missing-hash", Array(#"{"kind":"event","position":1}"#.utf8))
            add("envelope", "truncated", seeds["envelope"]!.values.first!.prefix(60))

            // Password hashes as the hashers write them, small and default.
            add("phc", "argon2id-default", Array(try PasswordHashing().hash("correct horse").utf8))
            add("phc", "argon2id-small", Array(try Argon2idHasher(memoryKiB: 8, iterations: 1).hash("pw").utf8))
            add("phc", "scrypt-small", Array(try ScryptHasher(logN: 4, blockSize: 8).hash("pw").utf8))
            add("phc", "no-version", Array("$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA".utf8))

            // Tokens as issued: the first byte picks the parser.
            let secret = [UInt8](repeating: 0x5A, count: 32)
            add("tokens", "refresh", [0] + RefreshToken(userID: user, sessionID: user, secret: secret).text.utf8)
            add("tokens", "user-token", [1] + UserToken(userID: user, secret: secret).text.utf8)
            add("tokens", "empty-parts", [0] + Array(".".utf8))

            // The two access tokens the jwt target accepts, and one it refuses (expired).
            for (index, token) in FuzzJWT.accepted.sorted().enumerated() { add("jwt", "accepted-\(index)", token.utf8) }
            var expired = FuzzJWT.claims
            expired.expires = FuzzJWT.now
            add("jwt", "expired", try FuzzJWT.issuer.sign(expired).utf8)

            // Request bodies.
            for (name, body) in [
                ("register", #"{"email":"ada@example.com","password":"correct horse battery","first_name":"Ada"}"#),
                ("refresh", #"{"refresh_token":"abc.def"}"#), ("nulls", #"{"phone":null,"role":"admin"}"#),
                ("escapes", #"{"a":"\u00e9\uD83D\uDE00\n\"\\\/","b":-1.5e3}"#),
                ("nested", #"{"a":[1,{"b":"]"}],"b":true}"#),
                ("empty", "{}"),
            ] {
                add("strict-json", name, body.utf8)
            }

            // Data files: one whose free list holds pages from a few transactions, and the same
            // file cut after its meta pages and after its first half.
            let environmentDirectory = NSTemporaryDirectory() + "authlog-fuzz-seed-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: environmentDirectory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: environmentDirectory) }
            do {
                let environment = try Environment(path: environmentDirectory, options: .init(mapSize: 1 << 24))
                defer { environment.close() }
                for round in 0..<6 {
                    let txn = try environment.beginTransaction(readOnly: false)
                    let db = try txn.openDatabase("seed", flags: .create)!
                    for key in 0..<40 {
                        try Array("key \(key)".utf8).withUnsafeBytes { key in
                            try [UInt8](repeating: UInt8(round), count: 200).withUnsafeBytes {
                                try txn.put(db, key: key, value: $0)
                            }
                        }
                    }
                    try txn.commit()
                }
            }
            let file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: environmentDirectory + "/data.mdb")))
            add("free-list", "whole", file)
            add("free-list", "metas-only", file.prefix(2 * 4_096))
            add("free-list", "half", file.prefix(file.count / 8_192 * 4_096))

            for (target, files) in seeds {
                let folder = directory + "/" + target
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                for (name, bytes) in files {
                    try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name))
                }
            }
        }
    }
#endif
