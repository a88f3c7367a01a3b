import AuthDomain
import EventLog
import Foundation

extension AuthService {
    /// Values every template sees: the user's address, the public URL, the time; and the
    /// user's names when `withNames`.
    func mailValues(for user: UserState, withNames: Bool) -> [String: String] {
        let time = ISO8601DateFormatter().string(from: Date())
        var values = ["email": user.email, "public_url": configuration.publicURL.base, "time": time]
        // A name left out, not given empty: a template's `{{#first_name}}` section then drops it.
        if withNames, !user.firstName.isEmpty { values["first_name"] = user.firstName }
        if withNames, !user.lastName.isEmpty { values["last_name"] = user.lastName }
        return values
    }

    /// Renders `kind` for `user` with `values` added, and queues it to `address` (the user's
    /// own when nil).
    ///
    /// The user's names (`first_name`, `last_name`) are given to the templates only for a mail
    /// to the user's own address once it is verified. Whoever registers or changes an address
    /// writes the names; in mail to an address not shown to be theirs, they would be that
    /// person's words in a genuine message to anyone (links too, in the text part).
    func mail(_ kind: MailKind, to user: UserState, address: String? = nil, _ values: [String: String] = [:])
        async throws
    {
        let withNames = address == nil && user.emailVerifiedAt != nil
        let rendered = configuration.templates.render(
            kind, mailValues(for: user, withNames: withNames).merging(values) { $1 })
        try await mailer.send(
            MailMessage(
                to: address ?? user.email, subject: rendered.subject, body: rendered.text, html: rendered.html,
                user: user.id))
    }

    /// The verification mail: a link to the page that asks before it confirms, and the token.
    func mailVerification(_ token: UserToken, to user: UserState) async throws {
        try await mail(
            .verification, to: user,
            [
                "token": token.text, "link": configuration.publicURL.url("/verify-email?token=" + token.text),
                "hours": "\(configuration.rules.verificationTokenLifetime / 3_600_000_000)",
            ])
    }

    /// The reset mail: a link to the page that asks for the new password, and the token.
    func mailReset(_ token: UserToken, to user: UserState) async throws {
        try await mail(
            .reset, to: user,
            [
                "token": token.text, "link": configuration.publicURL.url("/reset-password?token=" + token.text),
                "minutes": "\(configuration.rules.resetTokenLifetime / 60_000_000)",
            ])
    }

    /// Queues a notice (``MailKind/passwordChanged`` or ``MailKind/sessionRevoked``) to `user`:
    /// nothing for a user without an address (erased) or for a kind that needs a token.
    public func sendNotice(_ kind: MailKind, to user: UserState) async throws {
        guard kind == .passwordChanged || kind == .sessionRevoked, user.exists, !user.isErased, !user.email.isEmpty
        else { return }
        try await mail(kind, to: user)
    }

    /// Mails `user` the notices `events` call for (a password changed or reset, a refresh
    /// token reused, an email change asked for: its notice goes to the address it would
    /// leave): the events of an append whose notice its fold found due
    /// (`UserState.evolve(_:at:)` of the append's events), at most
    /// ``UserState/noticesMailedPerHour`` an hour, so that no account can flood the address it
    /// was registered on. Whatever path recorded them (a route, a command-line tool), the
    /// holder hears of it. A notice that cannot be queued does not undo or fail the command.
    func sendNotices(for events: [UserEvent], to user: UserState) async {
        for event in events {
            switch event {
            case .passwordChanged, .passwordResetCompleted: try? await sendNotice(.passwordChanged, to: user)
            case .refreshTokenReuseDetected: try? await sendNotice(.sessionRevoked, to: user)
            case .emailChangeRequested(let requested):
                try? await mailEmailChangeNotice(to: user, newEmail: requested.newEmail)
            default: continue
            }
        }
    }
}
