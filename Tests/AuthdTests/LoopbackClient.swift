import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TCP connection to the server from a chosen loopback address (127.0.0.2, 127.0.0.3, ...),
/// so that one test can act as several clients; it writes raw bytes, so it can also stop
/// half-way through a request.
final class LoopbackConnection {
    let descriptor: Int32
    /// Bytes read past the last answer (a pipelined answer's start), for the next.
    private var unread: [UInt8] = []

    enum Failure: Error { case socket(String) }

    /// `bufferSize`: the socket's receive and send buffers, when set, before it connects.
    init(port: Int, from source: String, bufferSize: Int32? = nil) throws {
        // Held in a local until it is connected: a class whose init throws after its stored
        // properties are set runs its deinit, and a second close of the number here would close
        // whatever another thread opened under it meanwhile.
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure.socket("socket: \(errno)") }
        if var size = bufferSize {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, connected == 0 else {
            let error = errno
            close(descriptor)
            throw Failure.socket("bind or connect from \(source): \(error)")
        }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// Sends `bytes` whole. A server that has closed gives an error, not SIGPIPE.
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw Failure.socket("send: \(errno)") }
            offset += written
        }
    }

    /// The next answer, read by ``AnswerReader`` (by its Content-Length, its chunks, or to
    /// the connection's end), with its bytes as they came. Throws when it is not whole before
    /// `timeout` seconds pass between two reads, or the connection ends first.
    func readAnswer(timeout: Double, bodiless: Bool = false) throws -> (reply: RunningServer.Reply, raw: Data) {
        var reader = AnswerReader(descriptor: descriptor, timeout: timeout, pending: unread)
        defer { unread = reader.pending }
        let reply = try reader.answer(bodiless: bodiless)
        return (reply, Data(reader.raw))
    }

    /// The bytes of the next whole answer on a connection kept alive, or `nil` if it has not
    /// come within `timeout` seconds of the last read (or the connection ended first).
    func readResponse(timeout: Double) -> Data? {
        try? readAnswer(timeout: timeout).raw
    }

    /// Ends this side's sending (`shutdown(SHUT_WR)`): the server reads the input's end after
    /// what was sent.
    func finishSending() {
        shutdown(descriptor, Int32(SHUT_WR))
    }

    /// The bytes of the next `count` whole answers, split off as they come; fewer if the rest
    /// has not come within `timeout` seconds of the last read.
    func readResponses(_ count: Int, timeout: Double) -> [Data] {
        var answers: [Data] = []
        while answers.count < count, let answer = readResponse(timeout: timeout) { answers.append(answer) }
        return answers
    }

    /// Everything the server sends until it closes the connection, or `nil` if it is still
    /// open after `timeout` seconds.
    func readUntilClosed(timeout: Double) -> Data? {
        let deadline = Date().addingTimeInterval(timeout)
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            guard let count = readPolling(descriptor, into: &buffer, until: deadline) else { return nil }
            if count <= 0 { return data }
            data.append(contentsOf: buffer[0..<count])
        }
    }
}

/// A whole HTTP/1.1 exchange from `source`: sends the request with `Connection: close` and
/// reads the response until the server closes.
func exchange(
    port: Int, from source: String, _ method: String, _ path: String, json: [String: Any]? = nil,
    headers: [String: String] = [:], timeout: Double = 30
) throws -> RunningServer.Reply {
    let connection = try LoopbackConnection(port: port, from: source)
    let body = try json.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
    var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if json != nil { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
    for (name, value) in headers { head += "\(name): \(value)\r\n" }
    try connection.send(head + "\r\n" + String(decoding: body, as: UTF8.self))
    guard let data = connection.readUntilClosed(timeout: timeout) else { throw ExchangeError.noAnswer }
    return try parseResponse(data)
}

/// Whether `source` gets a 200 for `GET /healthz` within `seconds`, asked every 200 ms: for a
/// place under the per-address connection cap that a connection closed by the server gives
/// back (the client sees the close before the server has counted it).
func servedAgain(port: Int, from source: String, within seconds: Double) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? exchange(port: port, from: source, "GET", "/healthz", timeout: 5))?.status == 200 { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return false
}

enum ExchangeError: Error {
    case noAnswer
    case malformed(String)
}

/// A response's head and what follows it, as bytes read off the wire (the body as it came).
func parseResponse(_ data: Data) throws -> RunningServer.Reply {
    guard let split = data.range(of: Data("\r\n\r\n".utf8)) else {
        throw ExchangeError.malformed(String(decoding: data, as: UTF8.self))
    }
    let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let statusParts = lines[0].split(separator: " ")
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw ExchangeError.malformed(lines[0]) }
    // A field that comes more than once keeps its last value, but Set-Cookie keeps them all,
    // one a line.
    var headers: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        if name == "set-cookie", let earlier = headers[name] {
            headers[name] = earlier + "\n" + value
        } else {
            headers[name] = value
        }
    }
    return RunningServer.Reply(status: status, headers: headers, body: Data(data[split.upperBound...]))
}

/// One `read` of `descriptor` into `buffer` once it has data, or nil if `deadline` passes
/// first: the byte count (0 at the end), as `read` returns it.
func readPolling(_ descriptor: Int32, into buffer: inout [UInt8], until deadline: Date) -> Int? {
    while true {
        let left = deadline.timeIntervalSinceNow
        guard left > 0 else { return nil }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(left * 1_000) + 1)
        if ready < 0 && errno == EINTR { continue }
        guard ready > 0 else { return nil }
        return read(descriptor, &buffer, buffer.count)
    }
}

/// Sends `request` over and over on one connection from 127.0.0.1 and never reads an answer,
/// until the server stops taking requests for 2 s (`stalled`) or 40 MB have gone in (what a
/// server that answers into memory without bound would take). Returns whether it stalled,
/// and the bytes sent.
func floodWithoutReading(port: Int, _ request: String) throws -> (stalled: Bool, sent: Int) {
    // Small buffers on this side, so that the kernel holds little of the backlog.
    let connection = try LoopbackConnection(port: port, from: "127.0.0.1", bufferSize: 65_536)
    return connection.flood(request)
}

extension LoopbackConnection {
    /// Sends `request` over and over and never reads an answer, until the server stops taking
    /// requests for 2 s (`stalled`), the connection fails (the server closed it), or 40 MB
    /// have gone in. Returns whether it stalled, and the bytes sent; the connection stays open.
    func flood(_ request: String) -> (stalled: Bool, sent: Int) {
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        let batch = Array([[UInt8]](repeating: Array(request.utf8), count: 64).joined())
        let limit = 40_000_000
        var sent = 0
        // Where the next byte comes from in `batch`: a partial send goes on from there, so the
        // requests stay whole on the wire.
        var offset = 0
        while sent < limit {
            let written = batch[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                sent += written
                offset = (offset + written) % batch.count
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EWOULDBLOCK else { break }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            if poll(&poller, 1, 2_000) == 0 { return (true, sent) }
        }
        return (false, sent)
    }
}
