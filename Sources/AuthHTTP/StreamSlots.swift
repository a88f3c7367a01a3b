import Synchronization

/// Caps the long-lived responses (event streams) open at once: in all, and per client address.
///
/// Rules: ``take(for:)`` returns a slot, or `nil` when either cap is reached; a slot is given
/// back exactly once, when it is released or, failing that, when it is freed (a response that
/// never ran its body).
final class StreamSlots: Sendable {
    let total: Int
    let perAddress: Int
    private let counts = Mutex<(all: Int, byAddress: [String: Int])>((0, [:]))

    init(total: Int, perAddress: Int) {
        self.total = total
        self.perAddress = perAddress
    }

    var open: Int { counts.withLock { $0.all } }

    func take(for address: String) -> Slot? {
        let taken = counts.withLock { counts in
            guard counts.all < total, counts.byAddress[address, default: 0] < perAddress else { return false }
            counts.all += 1
            counts.byAddress[address, default: 0] += 1
            return true
        }
        return taken ? Slot(slots: self, address: address) : nil
    }

    fileprivate func giveBack(_ address: String) {
        counts.withLock { counts in
            counts.all -= 1
            let left = counts.byAddress[address, default: 1] - 1
            counts.byAddress[address] = left > 0 ? left : nil
        }
    }

    final class Slot: Sendable {
        let slots: StreamSlots
        let address: String
        private let released = Atomic(false)

        fileprivate init(slots: StreamSlots, address: String) {
            self.slots = slots
            self.address = address
        }

        func release() {
            if !released.exchange(true, ordering: .relaxed) { slots.giveBack(address) }
        }

        deinit { release() }
    }
}
