import Dispatch
import EventLog
import Synchronization

extension LMDBEventLog {
    /// Folds `from...through` (through the head when `nil`) split into `partitions` contiguous
    /// ranges, each on its own thread with its own read transactions, and returns one state per
    /// range in position order. Within a range `body` sees events in order.
    ///
    /// For whole-log passes whose partial results combine afterwards (counting, checking,
    /// decoding ahead of a rebuild): one LMDB reader per core instead of one in all.
    public func foldConcurrently<State: Sendable>(
        partitions: Int, from position: UInt64 = 1, through last: UInt64? = nil,
        initial: @Sendable () -> State,
        _ body: @Sendable (inout State, EnvelopeView) throws -> Void
    ) throws -> [State] {
        let start = max(position, 1)
        let end = try last ?? headPosition()
        guard end >= start else { return [] }
        let total = end - start + 1
        let count = Int(min(UInt64(max(partitions, 1)), total))
        let states = Mutex<[State?]>(Array(repeating: nil, count: count))
        let failure = Mutex<(any Error)?>(nil)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            let first = start + total * UInt64(index) / UInt64(count)
            let bound = start + total * UInt64(index + 1) / UInt64(count) - 1
            var state = initial()
            do {
                try forEachEnvelope(from: first) { view in
                    guard view.position <= bound else { return false }
                    try body(&state, view)
                    return true
                }
                let result = state
                states.withLock { $0[index] = result }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        return states.withLock { $0.map { $0! } }
    }
}
