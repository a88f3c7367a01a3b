import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The tests' HTTP client: one request on a TCP connection of its own, from a chosen loopback
/// address, its answer read whole, then the connection closed.
///
/// Rules:
/// - The request is sent as a client that keeps its connection alive sends it (no
///   `Connection` field), so the server takes it by the same path as any client's.
/// - The answer's body is read by its Content-Length, by its chunks (decoded), or to the
///   connection's end when it has neither; a HEAD's, a 204's and a 304's have none.
///   Interim answers (1xx) are skipped.
/// - Nothing is followed or remembered: a redirect is returned as it came, and no cookie is
///   kept from one request to the next.
/// - The blocking reads run on a thread of their own, never on the concurrency pool: a test
///   waiting for a slow answer holds none of the threads other tests run on.
/// - Fails (``ExchangeError``, ``LoopbackConnection/Failure``) when the connection cannot be
///   made, is closed before the answer is whole, or `timeout` seconds pass between two reads.
///
/// Foundation's `URLSession` is not used: its libcurl-backed implementation can crash the test
/// process when many requests run at once.
struct LoopbackRequest: Sendable {
    var method: String
    var path: String
    /// In order; Host is added first.
    var headers: [(name: String, value: String)] = []
    var body: Data? = nil

    init(_ method: String, _ path: String, headers: [(name: String, value: String)] = [], body: Data? = nil) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
    }

    /// Sends the request to `port` from `source` and returns its answer.
    func send(port: Int, from source: String = "127.0.0.1", timeout: Double = 60) async throws
        -> RunningServer.Reply
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try self.sendBlocking(port: port, from: source, timeout: timeout) })
            }.start()
        }
    }

    /// ``send(port:from:timeout:)`` on the caller's thread.
    func sendBlocking(port: Int, from source: String = "127.0.0.1", timeout: Double = 60) throws
        -> RunningServer.Reply
    {
        let connection = try LoopbackConnection(port: port, from: source)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        try connection.send(Array((head + "\r\n").utf8) + Array(body ?? Data()))
        return try connection.readAnswer(timeout: timeout, bodiless: method == "HEAD").reply
    }
}

/// Reads answers off a connection, one at a time, as ``LoopbackRequest`` describes: the one
/// place the tests frame HTTP answers. Bytes read past an answer stay in ``pending`` for the
/// next.
struct AnswerReader {
    let descriptor: Int32
    let timeout: Double
    var pending: [UInt8]
    /// The bytes of the last answer as they came on the wire (interim answers, head, body
    /// with its chunks' framing).
    private(set) var raw: [UInt8] = []
    private var buffer = [UInt8](repeating: 0, count: 16_384)

    /// `timeout`: seconds allowed between two reads.
    init(descriptor: Int32, timeout: Double, pending: [UInt8] = []) {
        self.descriptor = descriptor
        self.timeout = timeout
        self.pending = pending
    }

    mutating func answer(bodiless: Bool) throws -> RunningServer.Reply {
        raw = []
        while true {
            let head = try take(through: Self.headEnd)
            var reply = try parseResponse(Data(head))
            if (100..<200).contains(reply.status) { continue }
            if bodiless || reply.status == 204 || reply.status == 304 { return reply }
            if reply.headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
                reply.body = Data(try chunks())
            } else if let field = reply.headers["content-length"] {
                guard let length = Int(field), length >= 0 else {
                    throw ExchangeError.malformed("Content-Length \(field)")
                }
                reply.body = Data(try take(length))
            } else {
                while try fill() {}
                reply.body = Data(pending)
                raw += pending
                pending = []
            }
            return reply
        }
    }

    static let headEnd = Array("\r\n\r\n".utf8)
    static let lineEnd = Array("\r\n".utf8)

    /// A chunked body, decoded; the trailer fields after it are read and dropped.
    private mutating func chunks() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let line = String(decoding: try take(through: Self.lineEnd).dropLast(2), as: UTF8.self)
            let digits = line.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            guard let size = Int(digits.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0 else {
                throw ExchangeError.malformed("chunk size \(line)")
            }
            if size == 0 {
                while try take(through: Self.lineEnd).count > 2 {}
                return body
            }
            body += try take(size)
            guard try take(2) == Self.lineEnd else { throw ExchangeError.malformed("no CRLF after a chunk") }
        }
    }

    /// The bytes up to and with the first `end`.
    private mutating func take(through end: [UInt8]) throws -> [UInt8] {
        var searched = 0
        while true {
            if let range = pending[max(0, searched - end.count)...].firstRange(of: end) {
                let taken = Array(pending[..<range.upperBound])
                pending.removeFirst(range.upperBound)
                raw += taken
                return taken
            }
            searched = pending.count
            guard try fill() else { throw ExchangeError.malformed("the connection ended mid-answer") }
        }
    }

    /// The next `count` bytes.
    private mutating func take(_ count: Int) throws -> [UInt8] {
        while pending.count < count {
            guard try fill() else { throw ExchangeError.malformed("the connection ended mid-body") }
        }
        let taken = Array(pending[..<count])
        pending.removeFirst(count)
        raw += taken
        return taken
    }

    /// Reads more into ``pending``: false at the connection's end.
    private mutating func fill() throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        guard let count = readPolling(descriptor, into: &buffer, until: deadline) else {
            throw ExchangeError.noAnswer
        }
        if count < 0 { throw LoopbackConnection.Failure.socket("read: \(errno)") }
        pending += buffer[..<count]
        return count > 0
    }
}
