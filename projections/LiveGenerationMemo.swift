import Synchronization

/// The live generation as the catalog gave it in the latest read snapshot seen, so reads in
/// the same snapshot skip the catalog look-up. Exact: one snapshot id names one committed
/// state, in which the catalog entry cannot change. One atomic word, no lock.
final class LiveGenerationMemo: Sendable {
    // (snapshot + 1) << 1 | generation; 0 before the first read.
    private let packed = Atomic<Int>(0)

    func generation(atSnapshot snapshot: Int) -> Int? {
        let value = packed.load(ordering: .relaxed)
        return value >> 1 == snapshot + 1 ? value & 1 : nil
    }

    func remember(_ generation: Int, atSnapshot snapshot: Int) {
        packed.store((snapshot + 1) << 1 | generation & 1, ordering: .relaxed)
    }
}
