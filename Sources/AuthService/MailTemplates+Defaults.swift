extension MailTemplates {
    /// The built-in templates, by file name (see ``MailTemplates``). A token stands on a line
    /// of its own in every text part, so that it can be copied without the link.
    static let defaults: [String: String] = [
        "verification.subject.mustache": "Confirm your email address",
        "verification.txt.mustache": """
        Hello{{#first_name}} {{first_name}}{{/first_name}},

        Confirm your email address by opening this page (it asks before it confirms):

        {{link}}

        Or use this token (it works once, for {{hours}} hours):

        {{token}}

        If you did not create an account, ignore this message.

        """,
        "verification.html.mustache": page(
            title: "Confirm your email address",
            body: """
                <p>Hello{{#first_name}} {{first_name}}{{/first_name}},</p>
                <p>Confirm your email address by opening this page (it asks before it confirms):</p>
                <p><a href="{{link}}">Confirm {{email}}</a></p>
                <p>Or use this token (it works once, for {{hours}} hours):</p>
                <p><code>{{token}}</code></p>
                <p>If you did not create an account, ignore this message.</p>
                """),
        "reset.subject.mustache": "Reset your password",
        "reset.txt.mustache": """
        Someone asked to reset the password of this account. If it was you, open this page \
        within {{minutes}} minutes to choose a new password:

        {{link}}

        Or use this token; it works once:

        {{token}}

        If it was not you, ignore this message: your password stays as it is.

        """,
        "reset.html.mustache": page(
            title: "Reset your password",
            body: """
                <p>Someone asked to reset the password of this account. If it was you, open this page \
                within {{minutes}} minutes to choose a new password:</p>
                <p><a href="{{link}}">Choose a new password</a></p>
                <p>Or use this token; it works once:</p>
                <p><code>{{token}}</code></p>
                <p>If it was not you, ignore this message: your password stays as it is.</p>
                """),
        "password-changed.subject.mustache": "Your password was changed",
        "password-changed.txt.mustache": """
        Hello{{#first_name}} {{first_name}}{{/first_name}},

        The password of your account ({{email}}) was changed at {{time}}, and every session \
        was ended.

        If you did not do this, reset your password at once and tell us.

        """,
        "password-changed.html.mustache": page(
            title: "Your password was changed",
            body: """
                <p>Hello{{#first_name}} {{first_name}}{{/first_name}},</p>
                <p>The password of your account ({{email}}) was changed at {{time}}, and every \
                session was ended.</p>
                <p>If you did not do this, reset your password at once and tell us.</p>
                """),
        "session-revoked.subject.mustache": "A session of yours was ended",
        "session-revoked.txt.mustache": """
        Hello{{#first_name}} {{first_name}}{{/first_name}},

        At {{time}} a sign-in token of your account ({{email}}) was used again after it had \
        been replaced. That can mean someone copied it, so that session was ended: sign in \
        again on your devices.

        If this keeps happening, change your password.

        """,
        "session-revoked.html.mustache": page(
            title: "A session of yours was ended",
            body: """
                <p>Hello{{#first_name}} {{first_name}}{{/first_name}},</p>
                <p>At {{time}} a sign-in token of your account ({{email}}) was used again after it \
                had been replaced. That can mean someone copied it, so that session was ended: sign \
                in again on your devices.</p>
                <p>If this keeps happening, change your password.</p>
                """),
        "email-change.subject.mustache": "Confirm your new email address",
        "email-change.txt.mustache": """
        Hello{{#first_name}} {{first_name}}{{/first_name}},

        Someone asked to move an account to this address ({{new_email}}). If it was you, open \
        this page within {{hours}} hours to confirm it (it asks before it confirms):

        {{link}}

        Or use this token; it works once:

        {{token}}

        If it was not you, ignore this message: nothing changes.

        """,
        "email-change.html.mustache": page(
            title: "Confirm your new email address",
            body: """
                <p>Hello{{#first_name}} {{first_name}}{{/first_name}},</p>
                <p>Someone asked to move an account to this address ({{new_email}}). If it was you, \
                open this page within {{hours}} hours to confirm it (it asks before it confirms):</p>
                <p><a href="{{link}}">Confirm {{new_email}}</a></p>
                <p>Or use this token; it works once:</p>
                <p><code>{{token}}</code></p>
                <p>If it was not you, ignore this message: nothing changes.</p>
                """),
        "email-change-notice.subject.mustache": "Your email address is about to change",
        "email-change-notice.txt.mustache": """
        Hello{{#first_name}} {{first_name}}{{/first_name}},

        At {{time}} someone signed in to your account ({{email}}) asked to move it to \
        {{#new_email}}{{new_email}}{{/new_email}}{{^new_email}}another address{{/new_email}}. It moves once \
        that address confirms it.

        If it was not you, reset your password now: someone who knows it is using your account.

        """,
        "email-change-notice.html.mustache": page(
            title: "Your email address is about to change",
            body: """
                <p>Hello{{#first_name}} {{first_name}}{{/first_name}},</p>
                <p>At {{time}} someone signed in to your account ({{email}}) asked to move it to \
                {{#new_email}}{{new_email}}{{/new_email}}{{^new_email}}another address{{/new_email}}. It \
                moves once that address confirms it.</p>
                <p>If it was not you, reset your password now: someone who knows it is using your \
                account.</p>
                """),
    ]

    /// A small HTML document around `body`.
    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>\(title)</title></head>
        <body style="font-family: sans-serif; max-width: 36em; margin: 2em auto;">
        <h1 style="font-size: 1.3em;">\(title)</h1>
        \(body)
        </body>
        </html>

        """
    }
}
