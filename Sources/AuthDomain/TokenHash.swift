import COpenSSL

/// SHA-256 of a token's secret part: all the service ever stores of a token.
///
/// Equality is constant-time (`CRYPTO_memcmp`), so comparing a presented token with a stored
/// one reveals nothing through timing about how many bytes matched.
public struct TokenHash: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    /// Wraps a stored digest; `nil` unless it is 32 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// The digest of `secret`.
    public init(of secret: some Collection<UInt8>) {
        var digest = [UInt8](repeating: 0, count: 32)
        let input = Array(secret)
        input.withUnsafeBufferPointer { buffer in
            digest.withUnsafeMutableBufferPointer { out in _ = SHA256(buffer.baseAddress, buffer.count, out.baseAddress)
            }
        }
        bytes = digest
    }

    public static func == (lhs: TokenHash, rhs: TokenHash) -> Bool {
        lhs.bytes.withUnsafeBytes { left in
            rhs.bytes.withUnsafeBytes { right in CRYPTO_memcmp(left.baseAddress, right.baseAddress, 32) == 0 }
        }
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(bytes) }

    /// Hex: what audit output shows of a token.
    public var description: String { bytes.map { String($0, radix: 16).leftPadded(2) }.joined() }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
