import DataProtection
import Logging
import Webhooks

extension Authd {
    /// Seals the secrets of webhook endpoints written in the clear before secrets were sealed
    /// (``WebhookStore/sealSecretsInTheClear(sealing:)``), before any delivery starts. A
    /// failure is logged and does not stop authd: the dispatcher reads such a file as before.
    static func sealWebhookSecrets(_ store: WebhookStore, sealing: FileSealingKey, logger: Logger) {
        do {
            let sealed = try store.sealSecretsInTheClear(sealing: sealing)
            if sealed.sealed > 0 {
                logger.notice(
                    "sealed the webhook secrets written in the clear before this release",
                    metadata: ["endpoints": "\(sealed.sealed)"])
            }
            if sealed.leftoversRemoved > 0 {
                logger.notice(
                    "removed temporary webhook endpoint files a crash left",
                    metadata: ["files": "\(sealed.leftoversRemoved)"])
            }
            for (endpoint, reason) in sealed.notSealed.sorted(by: { $0.key < $1.key }) {
                logger.error(
                    "a webhook endpoint's secret written in the clear could not be sealed (or its sealed file is not yet synced); it may stay in the clear",
                    metadata: ["endpoint": "\(endpoint)", "error": "\(reason)"])
            }
            for (endpoint, reason) in sealed.oldBytesNotOverwritten.sorted(by: { $0.key < $1.key }) {
                logger.warning(
                    "a webhook endpoint's old file was not overwritten with zeros; its secret may stay on the disk until its blocks are reused",
                    metadata: ["endpoint": "\(endpoint)", "reason": "\(reason)"])
            }
        } catch {
            logger.error("cannot seal the webhook secrets written in the clear", metadata: ["error": "\(error)"])
        }
    }
}
