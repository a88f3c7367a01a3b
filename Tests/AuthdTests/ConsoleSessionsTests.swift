import Foundation
import Synchronization
import TestSupport
import Testing

@testable import AuthHTTP

/// ``ConsoleSessions``' rules on a clock the test moves by hand.
@Suite(.ownThreads) struct ConsoleSessionsTests {
    final class HandClock: Sendable {
        private let instant = Mutex(ContinuousClock.now)
        var now: ContinuousClock.Instant { instant.withLock { $0 } }
        func advance(_ by: Duration) { instant.withLock { $0 += by } }
    }

    @Test func aSessionEndsAtItsLifetimeHoweverBusy() throws {
        let clock = HandClock()
        let sessions = ConsoleSessions(
            idleTimeout: .seconds(15 * 60), lifetime: .seconds(8 * 60 * 60), clock: { clock.now })
        let (cookie, _) = try sessions.open(user: UUID(), logSession: UUID())
        // Used every ten minutes: never idle for long, and alive until eight hours are up.
        for _ in 0..<47 {
            clock.advance(.seconds(10 * 60))
            #expect(sessions.session(cookie, signedIn: true) != nil)
        }
        clock.advance(.seconds(10 * 60))
        #expect(sessions.session(cookie, signedIn: true) == nil)
        #expect(sessions.session(cookie, signedIn: true) == nil, "an ended session stays ended")
        // A new sign-in opens a new session with a lifetime of its own.
        let (fresh, _) = try sessions.open(user: UUID(), logSession: UUID())
        clock.advance(.seconds(14 * 60))
        #expect(sessions.session(fresh, signedIn: true) != nil)
    }

    @Test func aSessionUnusedForItsIdleTimeoutEnds() throws {
        let clock = HandClock()
        let sessions = ConsoleSessions(
            idleTimeout: .seconds(15 * 60), lifetime: .seconds(8 * 60 * 60), clock: { clock.now })
        let (waiting, _) = try sessions.open()
        let (signedIn, _) = try sessions.open(user: UUID(), logSession: UUID())
        clock.advance(.seconds(15 * 60 - 1))
        #expect(sessions.session(signedIn, signedIn: true) != nil)
        clock.advance(.seconds(15 * 60 - 1))
        #expect(sessions.session(signedIn, signedIn: true) != nil)
        #expect(sessions.session(waiting, signedIn: false) == nil)
        clock.advance(.seconds(15 * 60))
        #expect(sessions.session(signedIn, signedIn: true) == nil)
    }

    /// Every signed-in session that ends hands its log session over once, whichever way it
    /// ended; a session waiting for a sign-in has none, and a live one is kept.
    @Test func everySignedInSessionThatEndsHandsItsLogSessionOverOnce() throws {
        let clock = HandClock()
        let sessions = ConsoleSessions(
            idleTimeout: .seconds(15 * 60), lifetime: .seconds(60 * 60), capacity: 3, clock: { clock.now })
        func signedIn() throws -> (cookie: String, ended: ConsoleSessions.Ended) {
            let ended = ConsoleSessions.Ended(user: UUID(), logSession: UUID())
            let (cookie, _) = try sessions.open(user: ended.user, logSession: ended.logSession)
            return (cookie, ended)
        }
        _ = try sessions.open()  // waiting for a sign-in
        let idle = try signedIn()
        let signedOut = try signedIn()
        let busy = try signedIn()
        #expect(sessions.takeEnded().isEmpty)

        sessions.close(signedOut.cookie, signedIn: true)
        clock.advance(.seconds(10 * 60))
        #expect(sessions.session(busy.cookie, signedIn: true) != nil)
        clock.advance(.seconds(10 * 60))
        // `idle` unused for 20 minutes; found so by a look-up, not by the sweep.
        #expect(sessions.session(idle.cookie, signedIn: true) == nil)
        #expect(sessions.takeEnded() == [signedOut.ended, idle.ended])
        #expect(sessions.takeEnded().isEmpty, "each is handed over once")

        // A full table drops its least recently used session; the sweep finds one past its
        // lifetime though it was never looked up.
        let second = try signedIn()
        clock.advance(.seconds(60))
        #expect(sessions.session(busy.cookie, signedIn: true) != nil)
        let third = try signedIn()
        let fourth = try signedIn()  // the table holds three: `second` is dropped
        #expect(sessions.takeEnded() == [second.ended])
        clock.advance(.seconds(14 * 60))
        for live in [third, fourth] { #expect(sessions.session(live.cookie, signedIn: true) != nil) }
        clock.advance(.seconds(27 * 60))  // `busy` opened 62 minutes ago, last used 41 ago
        #expect(sessions.session(third.cookie, signedIn: true) == nil)  // idle 27 minutes
        #expect(Set(sessions.takeEnded()) == [busy.ended, third.ended, fourth.ended])

        // Handed back (the log could not take them), they come first next time.
        let later = try signedIn()
        sessions.close(later.cookie, signedIn: true)
        sessions.giveBack([idle.ended])
        #expect(sessions.takeEnded() == [idle.ended, later.ended])

        // A full table first lets go of the sessions that ended, handing them over, before it
        // drops a live one.
        let (a, b, c) = (try signedIn(), try signedIn(), try signedIn())
        clock.advance(.seconds(10 * 60))
        #expect(sessions.session(b.cookie, signedIn: true) != nil)
        #expect(sessions.session(c.cookie, signedIn: true) != nil)
        clock.advance(.seconds(6 * 60))  // `a` unused for 16 minutes
        let d = try signedIn()
        #expect(sessions.takeEnded() == [a.ended])
        for live in [b, c, d] { #expect(sessions.session(live.cookie, signedIn: true) != nil) }

        // Authd stopping ends them all.
        sessions.endAll()
        #expect(Set(sessions.takeEnded()) == [b.ended, c.ended, d.ended])
        #expect(sessions.session(b.cookie, signedIn: true) == nil)
    }

    /// Ended sessions wait up to the capacity; past it, and when handed back, the first ones
    /// handed over are forgotten.
    @Test func endedSessionsWaitUpToTheCapacity() throws {
        let sessions = ConsoleSessions(idleTimeout: .seconds(60), lifetime: .seconds(600), capacity: 2)
        var ended: [ConsoleSessions.Ended] = []
        for _ in 0..<3 {
            let one = ConsoleSessions.Ended(user: UUID(), logSession: UUID())
            let (cookie, _) = try sessions.open(user: one.user, logSession: one.logSession)
            sessions.close(cookie, signedIn: true)
            ended.append(one)
        }
        #expect(sessions.takeEnded() == Array(ended[1...]))
        sessions.giveBack(ended)
        #expect(sessions.takeEnded() == Array(ended[1...]))
    }

    /// The held list (what authd keeps across a crash) names every log session the console
    /// holds: signed in, ended and waiting for the sweep, or taken by it and not yet handled.
    /// Only ``ConsoleSessions/handled(_:)`` lets go of one (or the capacity, past which the
    /// first handed over are forgotten); a waiting session holds none.
    @Test func theHeldListNamesEveryLogSessionUntilItIsHandled() throws {
        let clock = HandClock()
        let sessions = ConsoleSessions(idleTimeout: .seconds(60), lifetime: .seconds(600), clock: { clock.now })
        func signedIn() throws -> (cookie: String, held: ConsoleSessions.Ended) {
            let held = ConsoleSessions.Ended(user: UUID(), logSession: UUID())
            let (cookie, _) = try sessions.open(user: held.user, logSession: held.logSession)
            clock.advance(.seconds(1))
            return (cookie, held)
        }
        _ = try sessions.open()
        #expect(sessions.held().isEmpty)
        let (a, b, c) = (try signedIn(), try signedIn(), try signedIn())
        #expect(sessions.held() == [a.held, b.held, c.held], "signed in, oldest first")
        sessions.close(b.cookie, signedIn: true)
        #expect(Set(sessions.held()) == [a.held, b.held, c.held], "ended, not yet taken")
        let taken = sessions.takeEnded()
        #expect(taken == [b.held])
        #expect(Set(sessions.held()) == [a.held, b.held, c.held], "taken, not yet handled")
        sessions.giveBack(taken)
        #expect(Set(sessions.held()) == [a.held, b.held, c.held], "given back")
        #expect(sessions.takeEnded() == [b.held], "given back once, not twice")
        sessions.handled([b.held])
        #expect(sessions.held() == [a.held, c.held])
        // Handed over at start (kept before a crash): held until handled.
        let before = ConsoleSessions.Ended(user: UUID(), logSession: UUID())
        sessions.giveBack([before])
        #expect(Set(sessions.held()) == [a.held, c.held, before])
        sessions.endAll()
        let all = sessions.takeEnded()
        #expect(Set(all) == [a.held, c.held, before])
        sessions.handled(all)
        #expect(sessions.held().isEmpty)
    }

    /// A cookie is found, and closed, only as the kind of session it was made for: a signed-in
    /// cookie's value given as a sign-in form's neither finds nor ends the signed-in session.
    @Test func aSessionIsFoundAndClosedOnlyAsItsOwnKind() throws {
        let sessions = ConsoleSessions(idleTimeout: .seconds(60), lifetime: .seconds(600))
        let (waiting, _) = try sessions.open()
        let (signedIn, _) = try sessions.open(user: UUID(), logSession: UUID())
        #expect(sessions.session(waiting, signedIn: true) == nil)
        #expect(sessions.session(signedIn, signedIn: false) == nil)
        sessions.close(signedIn, signedIn: false)
        sessions.close(waiting, signedIn: true)
        #expect(sessions.session(signedIn, signedIn: true)?.user != nil)
        #expect(sessions.session(waiting, signedIn: false) != nil)
        sessions.close(signedIn, signedIn: true)
        #expect(sessions.session(signedIn, signedIn: true) == nil)
    }
}
