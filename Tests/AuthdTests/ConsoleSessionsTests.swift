import Foundation
import Synchronization
import Testing

@testable import AuthHTTP

/// ``ConsoleSessions``' rules on a clock the test moves by hand.
@Suite struct ConsoleSessionsTests {
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
