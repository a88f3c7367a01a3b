import AuthDomain

/// Refresh tokens and reset/verification tokens as presented by clients.
///
/// Input: the first byte picks the parser (even: refresh, odd: reset/verification), the rest
/// is the token text. Properties: an accepted token's text is exactly the input (one
/// spelling a token), and it parses back to the same token.
enum FuzzTokens {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first, let text = String(validating: input.dropFirst(), as: UTF8.self) else { return }
        if first & 1 == 0 {
            guard let token = RefreshToken(parsing: text) else { return }
            require(token.text == text, "refresh token \(text) reads as another spelling")
            require(RefreshToken(parsing: token.text) == token, "refresh token does not read back")
        } else {
            guard let token = UserToken(parsing: text) else { return }
            require(token.text == text, "token \(text) reads as another spelling")
            require(UserToken(parsing: token.text) == token, "token does not read back")
        }
    }
}
