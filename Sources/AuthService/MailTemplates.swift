import Foundation
import Mustache

/// The kinds of message authd sends, each with a subject, a plain-text and an HTML template.
public enum MailKind: String, Sendable, CaseIterable {
    /// Confirms an email address: `link` (a page that asks before it uses the token), `token`, `hours`.
    case verification
    /// Resets a password: `link`, `token`, `minutes`.
    case reset
    /// Tells the holder that their password was changed (or reset): `time`.
    case passwordChanged = "password-changed"
    /// Tells the holder that a refresh token was used twice and that session was ended: `time`.
    case sessionRevoked = "session-revoked"
    /// Confirms a new address, sent to it: `new_email`, `link` (a page that asks before it
    /// uses the token), `token`, `hours`.
    case emailChange = "email-change"
    /// Tells the holder, at the old address, that a move to `new_email` was asked for.
    case emailChangeNotice = "email-change-notice"
}

/// The subjects and bodies of authd's mail, rendered with Mustache.
///
/// Rules:
/// - Each kind has three templates, `KIND.subject.mustache`, `KIND.txt.mustache` and
///   `KIND.html.mustache`; built-in ones are used unless `--templates DIR` holds a file of that
///   name, which replaces it (any of the three, alone).
/// - The subject and the text part are plain text: values go in as they are. The HTML part
///   escapes every `{{value}}` (`&`, `<`, `>`, `"`, `'`, byte by byte: ``HTMLText``); only
///   `{{{value}}}` would not, and the built-in templates never use it.
/// - Every template sees `email`, `first_name`, `last_name`, `public_url`, `time` (UTC, RFC 3339)
///   and the kind's own values (``MailKind``).
/// - A template that does not parse stops authd at start, naming the file.
public struct MailTemplates: Sendable {
    struct Parts: Sendable {
        var subject: MustacheTemplate
        var text: MustacheTemplate
        var html: MustacheTemplate
    }
    let parts: [MailKind: Parts]

    /// The built-in templates.
    public static let builtIn: MailTemplates = {
        do { return try MailTemplates(directory: nil) } catch { fatalError("a built-in mail template: \(error)") }
    }()

    /// The built-in templates, each replaced by the file of its name in `directory` if there is one.
    public init(directory: String?) throws(MailTemplateError) {
        var parts: [MailKind: Parts] = [:]
        for kind in MailKind.allCases {
            func load(_ suffix: String, plain: Bool) throws(MailTemplateError) -> MustacheTemplate {
                let name = "\(kind.rawValue).\(suffix).mustache"
                var text = Self.defaults[name] ?? ""
                var origin = "built-in \(name)"
                if let directory, let data = FileManager.default.contents(atPath: directory + "/" + name) {
                    text = String(decoding: data, as: UTF8.self)
                    origin = directory + "/" + name
                }
                do {
                    return try plain
                        ? MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + text) : HTMLText.template(text)
                } catch {
                    throw .unparsable("\(origin): \(error)")
                }
            }
            parts[kind] = Parts(
                subject: try load("subject", plain: true), text: try load("txt", plain: true),
                html: try load("html", plain: false))
        }
        self.parts = parts
    }

    /// The message of `kind` with `values`: subject (one line), text and HTML.
    public func render(_ kind: MailKind, _ values: [String: String]) -> (subject: String, text: String, html: String) {
        let templates = parts[kind]!
        let subject = templates.subject.render(values).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
        return (subject, templates.text.render(values), templates.html.render(values))
    }
}

/// A mail template that cannot be used.
public enum MailTemplateError: Error, CustomStringConvertible, Equatable {
    case unparsable(String)

    public var description: String {
        switch self {
        case .unparsable(let detail): "a mail template does not parse: \(detail)"
        }
    }
}
