import CCurl
import Foundation

/// What became of one message handed to the SMTP server.
public enum SMTPOutcome: Sendable, Equatable {
    /// The server accepted it (250 after the data): it is the server's now.
    case accepted
    /// It may work later (no connection, a 4xx answer, a TLS failure, a login the server
    /// refused, 535 included): retry.
    case temporaryFailure(String)
    /// The server refused the message for good (any other 5xx answer): retrying cannot help.
    case permanentFailure(String)
}

/// Sends messages over SMTP with libcurl: STARTTLS or implicit TLS as ``SMTPSettings`` say,
/// AUTH when a user is given, the message uploaded as it is stored (curl dot-stuffs it).
///
/// One client holds one curl handle, so the server's connection is kept between messages;
/// it must be used by one thread at a time (the delivery worker's), hence unchecked. Nothing
/// it reports carries the message or the password: reasons are curl's error text and the
/// server's reply code.
public final class SMTPClient: @unchecked Sendable {
    let settings: SMTPSettings
    private let handle: UnsafeMutableRawPointer
    /// Seconds a whole transfer may take before it counts as failed (and is retried).
    public var timeout = 30

    private static let globalInit: Bool = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK

    public init(settings: SMTPSettings) throws(SMTPSettingsError) {
        guard Self.globalInit, let handle = curl_easy_init() else {
            throw .invalid("libcurl could not be initialised")
        }
        self.settings = settings
        self.handle = handle
    }

    deinit { curl_easy_cleanup(handle) }

    /// Hands `message` (headers and body, CRLF lines) to the server, from `sender` to `recipients`
    /// (bare addresses).
    public func send(from sender: String, to recipients: [String], message: [UInt8]) -> SMTPOutcome {
        let upload = Upload(bytes: message)
        let context = Unmanaged.passRetained(upload)
        defer { context.release() }
        var list: UnsafeMutablePointer<curl_slist>?
        for recipient in recipients { list = curl_slist_append(list, "<\(recipient)>") }
        defer { curl_slist_free_all(list) }
        var errorText = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorText.withUnsafeMutableBufferPointer { buffer in
            curl_easy_reset(handle)  // keeps the open connection
            authlog_curl_set_string(handle, CURLOPT_URL, settings.serverURL)
            authlog_curl_set_long(handle, CURLOPT_UPLOAD, 1)
            authlog_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
            authlog_curl_set_long(handle, CURLOPT_TIMEOUT, timeout)
            authlog_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT, min(10, timeout))
            authlog_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, buffer.baseAddress)
            if !settings.implicitTLS {
                authlog_curl_set_long(
                    handle, CURLOPT_USE_SSL,
                    settings.requiresTLS ? Int(CURLUSESSL_ALL.rawValue) : Int(CURLUSESSL_TRY.rawValue))
            }
            if let caFile = settings.caFile { authlog_curl_set_string(handle, CURLOPT_CAINFO, caFile) }
            if let user = settings.username {
                authlog_curl_set_string(handle, CURLOPT_USERNAME, user)
                authlog_curl_set_string(handle, CURLOPT_PASSWORD, settings.password ?? "")
            }
            authlog_curl_set_string(handle, CURLOPT_MAIL_FROM, "<\(sender)>")
            authlog_curl_set_list(handle, CURLOPT_MAIL_RCPT, list)
            authlog_curl_set_long(handle, CURLOPT_INFILESIZE, message.count)
            authlog_curl_set_read_function(handle, uploadChunk)
            authlog_curl_set_pointer(handle, CURLOPT_READDATA, context.toOpaque())
            let code = curl_easy_perform(handle)
            authlog_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, nil)  // the buffer goes away
            return code
        }
        if code == CURLE_OK { return .accepted }
        var reply = 0
        _ = authlog_curl_response_code(handle, &reply)
        let written = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let detail = written.isEmpty ? String(cString: curl_easy_strerror(code)) : written
        let reason = MailFailure.redacted(reply > 0 ? "SMTP \(reply): \(detail)" : detail)
        // A refused login (535) says nothing of the message: the sender's settings are wrong
        // or the server's accounts are, and mail must wait until they are mended, not fail.
        if code == CURLE_LOGIN_DENIED { return .temporaryFailure(reason) }
        return (500...599).contains(reply) ? .permanentFailure(reason) : .temporaryFailure(reason)
    }

    /// The bytes being uploaded and how far curl has read them.
    final class Upload {
        let bytes: [UInt8]
        var offset = 0
        init(bytes: [UInt8]) { self.bytes = bytes }
    }
}

/// curl's read callback: copies the next part of the message into curl's buffer.
private func uploadChunk(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let buffer, let context else { return 0 }
    let upload = Unmanaged<SMTPClient.Upload>.fromOpaque(context).takeUnretainedValue()
    let length = min(size * count, upload.bytes.count - upload.offset)
    guard length > 0 else { return 0 }
    upload.bytes.withUnsafeBufferPointer { source in
        UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + upload.offset, byteCount: length)
    }
    upload.offset += length
    return length
}
