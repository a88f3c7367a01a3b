import CArgon2
import TestSupport
import Testing

@testable import PasswordHashing

/// Argon2id against published test vectors.
@Suite(.ownThreads) struct Argon2VectorTests {
    /// RFC 9106 §5.3: Argon2id v1.3, 32 KiB, 3 passes, 4 lanes, 32-byte tag, with a secret and
    /// associated data. The project's hasher takes neither (it hashes passwords with a salt
    /// only), so this checks the linked libargon2 through its raw API with the vector's
    /// parameters: the library the hasher stands on computes RFC 9106's Argon2id.
    @Test func libargon2MatchesRFC9106Section5Point3() throws {
        var password = [UInt8](repeating: 0x01, count: 32)
        var salt = [UInt8](repeating: 0x02, count: 16)
        var secret = [UInt8](repeating: 0x03, count: 8)
        var associated = [UInt8](repeating: 0x04, count: 12)
        var tag = [UInt8](repeating: 0, count: 32)
        let status = tag.withUnsafeMutableBufferPointer { out in
            password.withUnsafeMutableBufferPointer { pwd in
                salt.withUnsafeMutableBufferPointer { salt in
                    secret.withUnsafeMutableBufferPointer { secret in
                        associated.withUnsafeMutableBufferPointer { ad in
                            var context = argon2_context(
                                out: out.baseAddress, outlen: 32, pwd: pwd.baseAddress, pwdlen: 32,
                                salt: salt.baseAddress, saltlen: 16, secret: secret.baseAddress, secretlen: 8,
                                ad: ad.baseAddress, adlen: 12, t_cost: 3, m_cost: 32, lanes: 4, threads: 4,
                                version: UInt32(ARGON2_VERSION_13.rawValue), allocate_cbk: nil, free_cbk: nil,
                                flags: 0)  // ARGON2_DEFAULT_FLAGS
                            return argon2_ctx(&context, Argon2_id)
                        }
                    }
                }
            }
        }
        #expect(status == Int32(ARGON2_OK.rawValue))
        #expect(
            hex(tag) == "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659",
            "RFC 9106 §5.3 tag")
    }

    /// The reference implementation's own vectors (phc-winner-argon2, src/test.c, Argon2id
    /// v=19, password "password", salt "somesalt", no secret or associated data), verified
    /// through the project's hasher from their PHC strings: a one-character change fails.
    @Test(arguments: [
        "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
    ])
    func theHasherVerifiesTheReferenceImplementationsVectors(phc: String) throws {
        let stored = try PHCString(parsing: phc)
        #expect(try Argon2idHasher().verify("password", against: stored))
        #expect(try !Argon2idHasher().verify("passwore", against: stored))
    }

    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
