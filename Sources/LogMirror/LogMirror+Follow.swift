import EventLog
import Foundation

extension LogMirror {
    /// Copies whenever the shared log's head moves (its notifications), when ``wake()`` is
    /// called, and every ``pollInterval`` in any case, until the task is cancelled or the
    /// mirror stops. A failure to reach the shared log is logged and retried at the next wake.
    ///
    /// The copies run on a thread of the mirror's own (`log-mirror`), which a wake-up reaches
    /// directly: the shared log's reads and LMDB's commit block, and a wake-up that went
    /// through the concurrency pool first would cost a thread switch or two per copy.
    public func follow() async {
        let watch = shared.watchHead { [self] position in
            if let position { wake(toward: position) } else { wake() }
        }
        defer { watch.stop() }
        // Weak: the shared log outlives a mirror that no longer follows it.
        shared.whenCommitted { [weak self] news in self?.hear(news) }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let thread = Thread { [self] in
                    nameCurrentThread("log-mirror")
                    copyUntilStopped()
                    continuation.resume()
                }
                thread.start()
            }
        } onCancel: {
            wakeUps.stop()
        }
    }

    /// Takes news of this node's own commits: the position a commit under way reaches, then
    /// its batch, kept for the next look (beyond ``Due/offerLimit`` waiting, all are dropped
    /// and the look reads the shared log), or its failure (the look reads the shared log).
    private func hear(_ news: CommitNews) {
        switch news {
        case .committing(let position):
            // The last one told, not the highest: after a restore the positions start lower.
            due.withLock { $0.ownCommitThrough = position }
            return
        case .committed(let batch):
            due.withLock { due in
                if due.offered.count < Due.offerLimit {
                    due.offered.append(batch)
                } else {
                    due.offered.removeAll()
                    due.mustRead = true
                }
            }
        case .failed:
            // Its positions may be another node's now: their notifications must count.
            due.withLock { due in
                due.mustRead = true
                due.ownCommitThrough = 0
            }
        }
        wakeUps.signal()
    }

    /// ``follow()``'s thread: a look at each wake-up, and at least once a poll interval, which
    /// also writes a copy opened with deferred sync to disk. A look copies this node's own
    /// commits that continue the copy, and reads the shared log only if it must (``Due``).
    private func copyUntilStopped() {
        var polled = ContinuousClock.now
        var lastError = ""
        while wakeUps.wait(atMost: Self.pollInterval) {
            if ContinuousClock.now - polled >= Self.pollInterval {
                // A copy opened with deferred sync reaches the disk here, once a poll interval,
                // and the shared log is read whatever the notifications said.
                try? local.sync()
                due.withLock { $0.mustRead = true }
                polled = .now
            }
            let look = due.withLock { due in
                defer {
                    due.mustRead = false
                    due.offered = []
                }
                return due
            }
            do {
                _ = try catchUp(offered: look.offered) { reached in look.mustRead || look.target > reached }
                // The look's target is served: reached, or found past the shared log's head by
                // the read (a wait for a position not written: it must not make every later
                // look read). A target raised since stays.
                due.withLock { if $0.target == look.target { $0.target = 0 } }
                lastError = ""
            } catch let failure as Failure where divergence == .stop {
                logger.error("the node stopped following the shared log", metadata: ["reason": "\(failure)"])
                return
            } catch {
                // The next wake-up reads the shared log again, whatever it is for.
                due.withLock { $0.mustRead = true }
                let text = "\(error)"
                if text != lastError {
                    logger.warning("cannot copy the shared log; retrying", metadata: ["error": "\(text)"])
                    lastError = text
                }
            }
        }
    }
}

extension LogMirror {
    /// What the next look of ``follow()``'s thread is for.
    struct Due: Sendable {
        /// The highest position a notification or a wait named: the shared log is read if the
        /// copy is short of it.
        var target: UInt64 = 0
        /// Read the shared log whatever the copy reached: at start, at each poll, on a
        /// notification with no position (a connection made or lost), on ``wake()``, and when
        /// offered batches were dropped.
        var mustRead = true
        /// This node's own commits, not yet copied (``SharedEventLog/whenCommitted(_:)``).
        var offered: [CommittedBatch] = []
        /// The last position of this node's commits announced: a notification of a position up
        /// to it raises no ``target``, since the commit's batch (or its failure) is on its way
        /// and a read would only race it.
        var ownCommitThrough: UInt64 = 0
        /// Beyond this many batches waiting, they are dropped and the shared log is read.
        static let offerLimit = 64
    }
}
