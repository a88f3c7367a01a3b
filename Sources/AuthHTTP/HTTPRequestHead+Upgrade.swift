import NIOHTTP1

/// Requests after which NIO's HTTP/1 decoder parses nothing more on the connection.
///
/// The decoder (llhttp) takes a request for a change of protocols when it is a CONNECT, or
/// carries an Upgrade field and the `upgrade` token in a Connection or Proxy-Connection field
/// (llhttp reads the two alike). It hands on that request, then keeps every byte that comes
/// after it, unparsed, for an upgrader to take. authd has no upgrader, so nothing ever takes
/// them: a client that went on sending would grow the server's memory until a deadline closed
/// its connection. ``FastRouteHandler`` therefore makes such a request the connection's last,
/// and reads the socket no more after it (``ProtocolChangeRefusal`` refuses it on the metrics
/// listener).
///
/// Rules:
/// - ``mayChangeProtocols`` is true for a CONNECT and for any head with an Upgrade field,
///   whatever its Connection or Proxy-Connection field says: a superset of the decoder's rule,
///   so no request the decoder stops after is missed. A head with an Upgrade field and no
///   `upgrade` token only closes its connection after its answer, which HTTP allows
///   (RFC 9112 §9.6).
/// - Neither fast path takes such a request: both take only GET or POST, and refuse a head
///   with an Upgrade field (``FastReads/take(_:)``, ``DirectWrites/take(_:)``).
/// - Its answer, the connection's last, carries `Connection: close`.
extension HTTPRequestHead {
    /// Whether NIO's decoder may parse nothing after this request (the rules above).
    var mayChangeProtocols: Bool {
        method == .CONNECT || headers.contains(name: "Upgrade")
    }
}
