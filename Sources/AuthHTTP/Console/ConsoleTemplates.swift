import AuthService
import Foundation
import Mustache

/// The admin console's pages, rendered with Mustache.
///
/// Rules:
/// - Each page is `NAME.html.mustache` (`layout`, `login`, `users`, `user`, `log`, `problem`),
///   built in unless `--console-templates DIR` holds a file of that name, which replaces it.
/// - Every value is written with `{{value}}`, which escapes `&`, `<`, `>`, `"` and `'` byte by
///   byte (``HTMLText``: a quote followed by a combining mark too). Only
///   the layout's `{{{content}}}` is not escaped: it is the page already rendered here; nor is
///   the user page's `{{{events_html}}}`: the timeline's rows, every value escaped by
///   `ConsoleTimeline.html`.
/// - The pages load nothing from elsewhere: no script, one style sheet from `/admin/console.css`.
/// - A template that does not parse stops authd at start, naming the file.
public struct ConsoleTemplates: Sendable {
    static let names = ["layout", "login", "users", "user", "log", "problem"]
    let templates: [String: MustacheTemplate]

    /// The built-in templates.
    public static let builtIn: ConsoleTemplates = {
        do { return try ConsoleTemplates(directory: nil) } catch { fatalError("a built-in console template: \(error)") }
    }()

    /// The built-in templates, each replaced by the file of its name in `directory` if there is one.
    public init(directory: String?) throws(ConsoleTemplateError) {
        var templates: [String: MustacheTemplate] = [:]
        for name in Self.names {
            let file = "\(name).html.mustache"
            var text = Self.defaults[name] ?? ""
            var origin = "built-in \(file)"
            if let directory, let data = FileManager.default.contents(atPath: directory + "/" + file) {
                text = String(decoding: data, as: UTF8.self)
                origin = directory + "/" + file
            }
            do {
                templates[name] = try HTMLText.template(text)
            } catch {
                throw .unparsable("\(origin): \(error)")
            }
        }
        self.templates = templates
    }

    /// Page `name` with `values`, inside the layout with `layout` values.
    func render(_ name: String, _ values: [String: Any], layout: [String: Any]) -> String {
        var outer = layout
        outer["content"] = templates[name]!.render(values)
        return templates["layout"]!.render(outer)
    }
}

/// A console template that cannot be used.
public enum ConsoleTemplateError: Error, CustomStringConvertible, Equatable {
    case unparsable(String)

    public var description: String {
        switch self {
        case .unparsable(let detail): "a console template does not parse: \(detail)"
        }
    }
}

extension ConsoleTemplates {
    /// The built-in templates, by name (see ``ConsoleTemplates``).
    static let defaults: [String: String] = [
        "layout": """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
        <meta name="robots" content="noindex"><title>{{title}} · Authlog console</title>
        <link rel="stylesheet" href="/admin/console.css"></head>
        <body>
        <header>
        <strong class="brand">Authlog</strong>
        {{#signed_in}}
        <nav><a href="/admin/users">Users</a>{{#admin}} <a href="/admin/log">Log</a>{{/admin}}</nav>
        <form method="post" action="/admin/logout" class="logout">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <span class="who">{{who}} · {{role}}</span> <button type="submit" id="logout">Sign out</button>
        </form>
        {{/signed_in}}
        </header>
        <main>
        <h1>{{title}}</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{{content}}}
        </main>
        </body>
        </html>

        """,
        "login": """
        {{#message}}<p class="error" role="alert">{{message}}</p>{{/message}}
        <form method="post" action="/admin/login" class="login">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <p><label>Email<br><input type="email" name="email" value="{{email}}" autocomplete="username" required autofocus></label></p>
        <p><label>Password<br><input type="password" name="password" autocomplete="current-password" required></label></p>
        <p><button type="submit" id="sign-in">Sign in</button></p>
        </form>
        <p class="hint">For ADMIN and MANAGER accounts. A sign-in starts a session of that account (it replaces the account's API session).</p>
        """,
        "users": """
        <ul class="counts">{{#counts}}<li><a href="/admin/users?role={{role}}">{{role}}</a> <b>{{count}}</b></li>{{/counts}}</ul>
        <form method="get" action="/admin/users" class="search">
        <input type="search" name="q" value="{{q}}" placeholder="email prefix, id, phone or cus_…" aria-label="Search" size="36">
        <select name="role" aria-label="Role"><option value="">any role</option>{{#roles}}<option value="{{name}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/roles}}</select>
        {{#flags}}<select name="{{name}}" aria-label="{{name}}"><option value="">{{name}}: any</option><option value="yes"{{#yes}} selected{{/yes}}>{{name}}: yes</option><option value="no"{{#no}} selected{{/no}}>{{name}}: no</option></select>
        {{/flags}}
        <select name="sort" aria-label="Sort"><option value="created">newest first</option><option value="last_login"{{#by_login}} selected{{/by_login}}>last login first</option></select>
        <button type="submit" id="search">Search</button>
        </form>
        <p class="total">{{total}} found{{#position}} · as of log position {{position}}{{/position}}</p>
        <table class="users">
        <thead><tr><th>Email</th><th>Name</th><th>Role</th><th>Verified</th><th>Created</th><th>Last login</th><th>State</th></tr></thead>
        <tbody>
        {{#users}}<tr><td><a href="/admin/users/{{id}}" class="user-link">{{email}}</a></td><td>{{name}}</td><td>{{role}}</td><td>{{verified}}</td><td>{{created}}</td><td>{{last_login}}</td><td>{{state}}</td></tr>
        {{/users}}
        </tbody>
        </table>
        <p class="pages">{{#previous}}<a href="{{previous}}" rel="prev">← newer</a> {{/previous}}{{#next}}<a href="{{next}}" rel="next">older →</a>{{/next}}</p>
        """,
        "user": """
        {{#as_of}}
        <section class="as-of">
        <h2>As of {{as_of}}</h2>
        <p>The user as they were then (their events up to that moment, replayed). <a href="/admin/users/{{id}}">Back to now</a></p>
        {{#then_missing}}<p>They did not exist yet.</p>{{/then_missing}}
        <table class="diff"><thead><tr><th>Field</th><th>Then</th><th>Now</th></tr></thead><tbody>
        {{#diff}}<tr class="{{#changed}}changed{{/changed}}"><th>{{field}}</th><td>{{then}}</td><td>{{now}}</td></tr>
        {{/diff}}
        </tbody></table>
        </section>
        {{/as_of}}
        <table class="fields"><tbody>
        {{#fields}}<tr><th>{{field}}</th><td id="field-{{field}}">{{value}}</td></tr>
        {{/fields}}
        </tbody></table>
        {{#may_act}}
        <section class="actions">
        <h2>Actions</h2>
        <form method="post" action="/admin/users/{{id}}/role" class="inline">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Role <select name="role" id="role-select">{{#roles}}<option value="{{name}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/roles}}</select></label>
        <button type="submit" id="change-role">Change role</button>
        </form>
        {{#deleted}}<form method="post" action="/admin/users/{{id}}/restore" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="restore">Restore</button></form>{{/deleted}}
        {{^deleted}}{{^is_self}}<form method="post" action="/admin/users/{{id}}/delete" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="soft-delete">Soft-delete</button></form>{{/is_self}}{{/deleted}}
        {{#has_session}}<form method="post" action="/admin/users/{{id}}/end-session" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="end-session">End the session</button></form>{{/has_session}}
        {{#may_reset}}<form method="post" action="/admin/users/{{id}}/reset" class="inline"><input type="hidden" name="csrf" value="{{csrf}}"><button type="submit" id="send-reset">Send a password reset</button></form>{{/may_reset}}
        {{^is_self}}<form method="post" action="/admin/users/{{id}}/erase" class="erase">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label>Erase for good: type <code>{{erase_word}}</code> <input type="text" name="confirm" autocomplete="off" id="erase-confirm"></label>
        <button type="submit" id="erase" class="danger">Erase</button>
        </form>{{/is_self}}
        {{#is_self}}<p class="note">Your own account: another admin deletes or erases it.</p>{{/is_self}}
        </section>
        {{/may_act}}
        {{#may_audit}}
        <section class="history">
        <h2>As of a moment</h2>
        <form method="get" action="/admin/users/{{id}}" class="inline">
        <input type="text" name="as_of" placeholder="2026-01-31T12:00:00Z or a log position" aria-label="As of" size="34" id="as-of" value="{{as_of_text}}">
        <button type="submit" id="show-as-of">Show</button>
        </form>
        <h2>Timeline</h2>
        <form method="get" action="/admin/users/{{id}}" class="inline">
        <select name="type" aria-label="Event type"><option value="">every type</option>{{#types}}<option value="{{name}}"{{#selected}} selected{{/selected}}>{{name}}</option>{{/types}}</select>
        <input type="text" name="since" placeholder="since (RFC 3339)" value="{{since}}" aria-label="Since" size="22">
        <input type="text" name="until" placeholder="until (RFC 3339)" value="{{until}}" aria-label="Until" size="22">
        <button type="submit" id="filter">Filter</button>
        </form>
        <p class="total">{{shown}} of {{matching}} events, newest first</p>
        <ol class="timeline" id="timeline">
        {{{events_html}}}
        </ol>
        {{#older}}<p><a href="{{older}}" rel="next">older events →</a></p>{{/older}}
        </section>
        {{/may_audit}}
        """,
        "log": """
        <table class="fields"><tbody>
        <tr><th>Log</th><td>{{location}}</td></tr>
        <tr><th>Head position</th><td id="head-position">{{head_position}}</td></tr>
        <tr><th>Head hash</th><td><code>{{head_hash}}</code></td></tr>
        <tr><th>Signed head</th><td>{{#signed}}position {{signed_position}}, <code>{{signed_hash}}</code>, {{signed_time}}{{/signed}}{{^signed}}none: the log is not signed{{/signed}}</td></tr>
        {{#public_key}}<tr><th>Public key</th><td><code>{{public_key}}</code></td></tr>{{/public_key}}
        <tr><th>Projection</th><td>users, generation {{generation}}, at position {{checkpoint}} (lag {{lag}})</td></tr>
        <tr><th>Last verification</th><td id="verification">{{#verified}}{{verified_result}} at {{verified_time}} ({{verified_seconds}} s){{/verified}}{{^verified}}none since authd started{{/verified}}</td></tr>
        </tbody></table>
        <form method="post" action="/admin/log/verify">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <button type="submit" id="verify">Verify the log now</button>
        </form>
        <p class="hint">Recomputes the hash chain from position 1 and checks the signed checkpoints, as <code>authctl verify</code> does.</p>
        """,
        "problem": """
        <p class="error" role="alert">{{detail}}</p>
        <p><a href="{{back}}">Back</a></p>
        """,
    ]

    /// The one style sheet (`GET /admin/console.css`): the CSP allows styles from this origin only.
    static let styleSheet = """
        body { font-family: system-ui, sans-serif; margin: 0; color: #1d1d1f; background: #f6f6f7; }
        header { display: flex; gap: 1.5em; align-items: center; padding: .6em 1.5em; background: #20232a; color: #fff; }
        header a { color: #cfe3ff; margin-right: 1em; }
        header .logout { margin-left: auto; }
        header .who { color: #ddd; font-size: .9em; }
        main { padding: 1em 1.5em; max-width: 75em; }
        h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
        table { border-collapse: collapse; background: #fff; }
        th, td { text-align: left; padding: .3em .7em; border-bottom: 1px solid #e3e3e6; vertical-align: top; }
        table.fields th { color: #555; font-weight: 600; }
        .counts { list-style: none; padding: 0; display: flex; gap: 1em; }
        .counts li { background: #fff; border: 1px solid #ddd; border-radius: .4em; padding: .4em .8em; }
        .error { color: #a00; font-weight: 600; } .notice { color: #064; font-weight: 600; }
        .hint { color: #666; font-size: .9em; }
        form.inline { display: inline-block; margin: .2em .5em .2em 0; }
        form.erase { margin-top: .8em; }
        button.danger { background: #a00; color: #fff; border: 0; padding: .3em .8em; }
        .timeline { list-style: none; padding: 0; }
        .timeline .event { background: #fff; border-left: 3px solid #4a7; margin: .4em 0; padding: .4em .8em; }
        .timeline .type { font-weight: 600; } .timeline time, .timeline .actor { color: #666; font-size: .9em; }
        .change { font-family: ui-monospace, monospace; font-size: .9em; }
        del { color: #a00; } ins { color: #064; text-decoration: none; }
        tr.changed td { background: #fff6d6; }
        .as-of { background: #eef4ff; padding: .5em 1em; border: 1px solid #c8d8f0; }

        """
}
