import AccessTokens
import DataProtection

extension SigningKeys {
    /// The access-token signing keys of the data directory `data`, opened as authd opens them
    /// (with the directory's key-encryption key from `environment`, or `DATA/kek`): for tests
    /// that make tokens a running authd must accept or refuse.
    static func of(dataDirectory data: String, environment: [String: String] = [:]) throws -> SigningKeys {
        let keys = try KeyStore(dataDirectory: data, environment: environment, readOnly: true)
        guard let sealing = keys.fileSealingKey else { throw AccessTokenError.key("\(data) holds no key store") }
        return try SigningKeys(file: data + "/signing-keys", sealing: sealing)
    }
}
