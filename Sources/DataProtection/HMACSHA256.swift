import COpenSSL

/// HMAC-SHA256 of `message` under `key`: the one computation behind every value derived from
/// a key here (the KEK's check value, the log's derived signing seed, the file sealing key)
/// and behind webhook signatures.
///
/// Rule: it never hands back the output of a failed computation (32 zero bytes would be a
/// key anyone knows); a failure stops the process.
package func hmacSHA256(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 32
    let made = HMAC(EVP_sha256(), key, Int32(key.count), message, message.count, &digest, &length)
    precondition(made != nil && length == 32, "HMAC-SHA256 failed")
    return digest
}
