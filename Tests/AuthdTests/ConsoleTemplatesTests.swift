import TestSupport
import Testing

@testable import AuthHTTP

/// The console's templates escape every value for the browser, byte by byte.
@Suite(.ownThreads) struct ConsoleTemplatesTests {
    /// A search text with a quote followed by a combining mark (one `Character` to Swift, which
    /// Mustache's own escaping leaves as it is) must not close the search field's attribute.
    @Test func aQuoteWithACombiningMarkCannotLeaveAnAttribute() {
        let hostile = "\"\u{301} autofocus onfocus=alert(1) x=\"\u{301}"
        let html = ConsoleTemplates.builtIn.render("users", ["q": hostile], layout: [:])
        let escaped = "value=\"&quot;\u{301} autofocus onfocus=alert(1) x=&quot;\u{301}\""
        let rawQuote = "\"\u{301}"
        #expect(html.contains(escaped), "\(html)")
        #expect(!html.contains(rawQuote))
    }
}
