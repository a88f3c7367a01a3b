import ArgumentParser
import AuthHTTP
import AuthService
import Foundation
import Logging
import MailDelivery

/// authd's mail options: the outbox is always the Maildir in the data directory; with
/// `--smtp-url` a delivery worker sends what waits there.
struct MailOptions: ParsableArguments {
    static let environment = ProcessInfo.processInfo.environment

    @Option(
        name: .customLong("smtp-url"),
        help: ArgumentHelp(
            "Deliver mail over SMTP: smtp[s]://USER:PASS@HOST:PORT ($AUTHLOG_SMTP_URL; default: none, mail stays in DATA/maildir/new).",
            valueName: "url"))
    var smtpURLGiven: String?
    var smtpURL: String? { smtpURLGiven ?? Self.environment.value(of: "AUTHLOG_SMTP_URL") }
    @Option(
        name: .customLong("smtp-password-file"),
        help: "A file holding the SMTP password, instead of the URL's ($AUTHLOG_SMTP_PASSWORD_FILE).")
    var smtpPasswordFileGiven: String?
    var smtpPasswordFile: String? {
        smtpPasswordFileGiven ?? Self.environment.value(of: "AUTHLOG_SMTP_PASSWORD_FILE")
    }
    @Option(
        name: .customLong("smtp-starttls"),
        help:
            "STARTTLS on smtp://: auto (required unless the host is loopback), required or opportunistic ($AUTHLOG_SMTP_STARTTLS)."
    )
    var smtpStartTLS = environment["AUTHLOG_SMTP_STARTTLS"] ?? "auto"
    @Option(
        name: .customLong("smtp-ca-file"),
        help: "CA certificates (PEM) to trust for the SMTP server instead of the system's ($AUTHLOG_SMTP_CA_FILE).")
    var smtpCAFileGiven: String?
    var smtpCAFile: String? { smtpCAFileGiven ?? Self.environment.value(of: "AUTHLOG_SMTP_CA_FILE") }
    @Option(
        name: .customLong("mail-from"),
        help: "The sender of authd's mail, e.g. 'Example <no-reply@example.com>' ($AUTHLOG_MAIL_FROM).")
    var mailFrom = environment["AUTHLOG_MAIL_FROM"] ?? "Authlog <no-reply@localhost>"
    @Option(
        name: .customLong("mail-retry-for"),
        help:
            "Seconds a message is retried after a temporary failure before it moves to failed/ ($AUTHLOG_MAIL_RETRY_FOR)."
    )
    var mailRetryFor = Double(environment["AUTHLOG_MAIL_RETRY_FOR"] ?? "") ?? 86_400
    @Option(
        name: .customLong("templates"),
        help: ArgumentHelp(
            "A directory of Mustache templates (KIND.subject|txt|html.mustache) replacing the built-in ones ($AUTHLOG_TEMPLATES).",
            valueName: "dir"))
    var templatesDirectoryGiven: String?
    var templatesDirectory: String? { templatesDirectoryGiven ?? Self.environment.value(of: "AUTHLOG_TEMPLATES") }

    /// The mail templates: the built-in ones, each replaced by its file in `--templates`.
    func templates() throws -> MailTemplates {
        guard let templatesDirectory else { return .builtIn }
        guard isDirectory(templatesDirectory) else {
            throw ValidationError("--templates \(templatesDirectory) is not a directory")
        }
        do { return try MailTemplates(directory: templatesDirectory) } catch { throw ValidationError("\(error)") }
    }

    /// The SMTP settings, or nil without `--smtp-url`; throws a one-line reason (no password).
    func smtpSettings() throws -> SMTPSettings? {
        let address = mailFrom.split(separator: "<").last.map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: "> "))
        }
        guard let address, address.contains("@"), !mailFrom.contains(where: \.isNewline) else {
            throw ValidationError("--mail-from \(mailFrom) must be an address like 'Example <no-reply@example.com>'")
        }
        guard mailRetryFor >= 0 else { throw ValidationError("--mail-retry-for must not be negative") }
        guard let smtpURL else {
            if smtpPasswordFile != nil { throw ValidationError("--smtp-password-file needs --smtp-url") }
            return nil
        }
        guard let policy = SMTPSettings.TLSPolicy(rawValue: smtpStartTLS) else {
            throw ValidationError("--smtp-starttls must be auto, required or opportunistic")
        }
        if let smtpCAFile, !FileManager.default.isReadableFile(atPath: smtpCAFile) {
            throw ValidationError("cannot read --smtp-ca-file \(smtpCAFile)")
        }
        do {
            return try SMTPSettings(url: smtpURL, passwordFile: smtpPasswordFile, tls: policy, caFile: smtpCAFile)
        } catch {
            throw ValidationError("--smtp-url: \(error)")
        }
    }

    /// The outbox, and the worker that delivers it when SMTP is configured (not started yet).
    /// `erased` tells the worker whose waiting mail to delete instead of sending.
    func outbox(
        data: String, smtp: SMTPSettings?, logger: Logger, erased: @escaping @Sendable (UUID) -> Bool
    ) throws -> (MaildirMailer, DeliveryWorker?) {
        var outbox = try MaildirMailer(directory: data + "/maildir", sender: mailFrom)
        guard let smtp else { return (outbox, nil) }
        let worker = DeliveryWorker(
            outbox: outbox, settings: smtp, sender: mailFrom, retryPeriod: mailRetryFor, logger: logger,
            erased: erased)
        outbox.queued = { [worker] in worker.wake() }
        return (outbox, worker)
    }
}

extension ServerGauges {
    /// Adds the outbox's counts and the worker's counters.
    mutating func addMail(_ outbox: MaildirMailer, _ worker: DeliveryWorker?) {
        (mailQueued, mailFailed) = outbox.counts()
        mailDelivered = worker?.delivered ?? 0
        mailDeliveryFailures = worker?.failedDeliveryAttempts ?? 0
    }
}
