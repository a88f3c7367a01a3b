import Foundation

extension MaildirMailer {
    /// The message as stored and sent: RFC 5322 headers and CRLF lines; plain text alone, or
    /// text and HTML as multipart/alternative (8-bit UTF-8 parts). `X-Authlog-User` names the
    /// user for erasure; the delivery worker leaves every `X-Authlog-` header out of what it sends.
    ///
    /// Rules: no header value carries a line break (a subject's are turned into spaces); a
    /// subject outside ASCII is written as an RFC 2047 encoded word.
    static func compose(_ message: MailMessage, sender: String, messageID: String) -> String {
        func crlf(_ text: String) -> String {
            text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
        }
        let oneLine = message.subject.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(
            of: "\n", with: " ")
        let subject =
            oneLine.allSatisfy(\.isASCII) ? oneLine : "=?utf-8?B?\(Data(oneLine.utf8).base64EncodedString())?="
        var text = "From: \(sender)\r\nTo: \(message.to)\r\n"
        if let user = message.user { text += "X-Authlog-User: \(user.uuidString.lowercased())\r\n" }
        text += "Subject: \(subject)\r\nDate: \(rfc5322Date())\r\nMessage-ID: <\(messageID)@authlog>\r\n"
        text += "MIME-Version: 1.0\r\n"
        guard let html = message.html else {
            return text + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                + crlf(message.body) + "\r\n"
        }
        let boundary = "authlog-" + UUID().uuidString.lowercased()
        text += "Content-Type: multipart/alternative; boundary=\"\(boundary)\"\r\n\r\n"
        text += "--\(boundary)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        text += crlf(message.body) + "\r\n"
        text += "--\(boundary)\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        text += crlf(html) + "\r\n--\(boundary)--\r\n"
        return text
    }
}
