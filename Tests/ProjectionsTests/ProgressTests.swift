import AuthDomain
import AuthService
import EventLog
import EventLogLMDB
import Foundation
import TestSupport
import Testing

@testable import Projections

/// The embedded log's read-model progress, and the positions the service reports for it.
@Suite(.ownThreads) struct ProgressTests {
    func register(_ world: World, _ email: String) async throws -> (UserState, UInt64?) {
        let receipt = PositionReceipt()
        let user = try await receipt.collecting {
            try await world.service.register(
                .init(email: email, password: "a long passphrase", firstName: "Pro", lastName: "Gress"),
                correlationID: "progress")
        }
        return (user, receipt.position)
    }

    @Test func theServiceReportsWhereItsAnswersRest() async throws {
        let world = try World()
        defer { world.finish() }
        let progress = ProjectionProgress(world.projection)
        let (user, registered) = try await register(world, "first@example.com")
        let head0 = try world.log.headPosition()
        #expect(registered == head0, "a write names the position it reached")
        #expect(try progress.position() == registered)

        // A rejection that records an event names it; one that records nothing, the head.
        let failed = PositionReceipt()
        await #expect(throws: Rejection.invalidCredentials) {
            try await failed.collecting {
                try await world.service.login(email: "first@example.com", password: "wrong", correlationID: "c")
            }
        }
        let head = try world.log.headPosition()
        #expect(failed.position == head && head > registered ?? 0)
        #expect(try world.log.read(from: head, limit: 1).first?.type == "LoginFailed")
        let taken = PositionReceipt()
        await #expect(throws: Rejection.emailTaken) {
            _ = try await taken.collecting {
                try await world.service.register(
                    .init(email: "first@example.com", password: "a long passphrase", firstName: "A", lastName: "B"),
                    correlationID: "c")
            }
        }
        let after = try world.log.headPosition()
        #expect(taken.position == head && after == head, "nothing appended, the head named")
        let unknown = PositionReceipt()
        try await unknown.collecting {
            try await world.service.requestPasswordReset(email: "nobody@example.com", correlationID: "c")
        }
        #expect(unknown.position == head)
        // Refused before the log was consulted: no position.
        let weak = PositionReceipt()
        await #expect(throws: Rejection.self) {
            _ = try await weak.collecting {
                try await world.service.register(
                    .init(email: "weak@example.com", password: "short", firstName: "W", lastName: "P"),
                    correlationID: "c")
            }
        }
        #expect(weak.position == nil)
        // Without a receipt, nothing is recorded anywhere.
        _ = try await world.service.softDelete(user.id, actor: .system, correlationID: "c")
        #expect(PositionReceipt.current == nil && failed.position == head)
    }

    @Test func theEmbeddedLogAnswersAtOnce() async throws {
        let world = try World()
        defer { world.finish() }
        let progress = ProjectionProgress(world.projection)
        #expect(try progress.position() == 0)
        let (_, position) = try await register(world, "once@example.com")
        let at = try #require(position)
        #expect(try await progress.waitForPosition(at, timeout: .zero) == at)
        #expect(try await progress.waitForPosition(1, timeout: .zero) == at)
        // Beyond the head nothing in this log can take it there: unreached, without the wait.
        let clock = ContinuousClock()
        let start = clock.now
        #expect(try await progress.waitForPosition(at + 1, timeout: .seconds(600)) == at)
        #expect(clock.now - start < .seconds(600), "it waited for a position beyond the head")
    }

    @Test func aProjectionBehindItsLogIsWaitedForUntilAnAppendFoldsIt() async throws {
        let world = try World()
        defer { world.finish() }
        let (user, _) = try await register(world, "behind@example.com")
        // A writer without the projector appends behind the projection's back.
        world.log.close()
        let bare = try LMDBEventLog(directory: world.directory)
        let skipped = try await bare.append(
            [UserEvent.softDeleted.newEvent(actor: .system, correlationID: "bare") { $0 }], to: user.id,
            expecting: .any
        ).lastPosition
        bare.close()
        world.log = try LMDBEventLog(directory: world.directory)
        let projection = try UserProjection(log: world.log, keys: world.keys, prepare: false)
        let progress = ProjectionProgress(projection)
        #expect(try progress.position() == skipped - 1)
        #expect(try await progress.waitForPosition(skipped, timeout: .milliseconds(20)) == skipped - 1)

        // The next append with the projector folds the skipped event first.
        let waiting = Task { try await progress.waitForPosition(skipped, timeout: .seconds(600)) }
        world.log.attach(projection)
        let restored = try await world.log.append(
            [UserEvent.restored.newEvent(actor: .system, correlationID: "attached") { $0 }], to: user.id,
            expecting: .any)
        #expect(try await waiting.value == restored.lastPosition)
    }
}
