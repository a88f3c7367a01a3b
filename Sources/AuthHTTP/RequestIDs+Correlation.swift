extension RequestIDs {
    /// The most bytes of a client's `X-Request-ID` that are kept.
    static let maximumClientIDBytes = 64

    /// The correlation id of a request: always one this server made, so that no client can
    /// choose, repeat or forge the id that ties events in the audit log to log lines. A
    /// client's own `X-Request-ID` is kept beside it as `SERVER-ID;client=CLIENT-ID` when it
    /// is 1 to ``maximumClientIDBytes`` bytes of ASCII letters, digits and `- _ . : / + = @`;
    /// any other value is dropped (the request still runs). The result is at most 110 bytes,
    /// well within the envelope's 255.
    func correlationID(client given: String?) -> String {
        let own = next()
        guard let given, Self.isAcceptableClientID(given) else { return own }
        return own + ";client=" + given
    }

    /// Whether a client's request id is kept (see ``correlationID(client:)``).
    static func isAcceptableClientID(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard !utf8.isEmpty, utf8.count <= maximumClientIDBytes else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default: return "-_.:/+=@".utf8.contains(byte)
            }
        }
    }
}
