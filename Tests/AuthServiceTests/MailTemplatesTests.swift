import AuthService
import Foundation
import TestSupport
import Testing

@Suite(.ownThreads) struct MailTemplatesTests {
    let values = [
        "email": "ada@example.com", "first_name": "<script>alert(\"x\")</script> & Ada", "last_name": "L",
        "token": "t", "link": "https://auth.example.com/reset-password?token=a&b", "minutes": "30",
        "hours": "24", "time": "2026-12-02T06:00:00Z", "public_url": "https://auth.example.com",
    ]

    @Test func theHTMLPartEscapesValuesAndTheTextPartKeepsThem() throws {
        for kind in MailKind.allCases {
            let rendered = MailTemplates.builtIn.render(kind, values)
            #expect(!rendered.subject.isEmpty && !rendered.subject.contains("\n"))
            #expect(!rendered.html.contains("<script>"), "\(kind)")
            if kind != .reset {
                #expect(
                    rendered.html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Ada"), "\(kind)")
                #expect(rendered.text.contains("<script>alert(\"x\")</script> & Ada"), "\(kind)")
            }
        }
        let reset = MailTemplates.builtIn.render(.reset, values)
        #expect(reset.html.contains("href=\"https://auth.example.com/reset-password?token=a&amp;b\""))
        #expect(reset.text.contains("https://auth.example.com/reset-password?token=a&b\n"))
        #expect(reset.text.contains("within 30 minutes"))
    }

    /// A quote followed by a combining mark is one `Character` to Swift, but to a browser a
    /// quote that closes an attribute: the HTML part escapes it like any other, in the
    /// built-in templates and in a replaced one.
    @Test func aQuoteWithACombiningMarkIsEscapedInTheHTMLPart() throws {
        var hostile = values
        hostile["link"] = "https://auth.example.com/x\"\u{301} onmouseover=\"\u{301}alert(1)"
        let rendered = MailTemplates.builtIn.render(.reset, hostile)
        let escaped = "href=\"https://auth.example.com/x&quot;\u{301} onmouseover=&quot;\u{301}alert(1)\""
        let rawQuote = "\"\u{301}"
        #expect(rendered.html.contains(escaped))
        #expect(!rendered.html.contains(rawQuote))
    }

    @Test func aDirectoryReplacesTheTemplatesItHoldsAndABadOneIsNamed() throws {
        let directory = NSTemporaryDirectory() + "templates-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "Welcome {{first_name}}\n".write(
            toFile: directory + "/verification.subject.mustache", atomically: true, encoding: .utf8)
        try "<b>{{first_name}}</b> {{link}}".write(
            toFile: directory + "/verification.html.mustache", atomically: true, encoding: .utf8)
        let templates = try MailTemplates(directory: directory)
        let rendered = templates.render(.verification, values)
        #expect(rendered.subject == "Welcome <script>alert(\"x\")</script> & Ada")
        #expect(rendered.html.hasPrefix("<b>&lt;script&gt;"))
        #expect(
            rendered.text == MailTemplates.builtIn.render(.verification, values).text, "the text part stays built in")

        try "{{#unclosed}}".write(toFile: directory + "/reset.txt.mustache", atomically: true, encoding: .utf8)
        #expect {
            _ = try MailTemplates(directory: directory)
        } throws: { error in
            "\(error)".contains(directory + "/reset.txt.mustache")
        }
    }
}
