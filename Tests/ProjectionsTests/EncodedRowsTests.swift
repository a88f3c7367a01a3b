import EventLog
import TestSupport
import Testing

@testable import Projections

@Suite(.ownThreads) struct EncodedRowsTests {
    /// Rows laid out as the rebuild lays them (offset `o` in buffer `o % n`), with buffers of
    /// unequal length, come back in offset order with their own bytes.
    @Test func interleavedRowsComeBackInOffsetOrder() throws {
        let buffers = (0..<3).map { _ in EncodedRows(capacity: 4) }
        let rows = (0..<7).map { offset in [UInt8](repeating: UInt8(offset), count: offset + 1) }
        for (part, buffer) in buffers.enumerated() {
            var filled = buffer.takeAll()
            for offset in stride(from: part, to: rows.count, by: buffers.count) {
                filled.bytes.write(raw: rows[offset])
                filled.ends.append(filled.bytes.bytes.count)
            }
            buffer.giveBack(filled)
        }
        var seen: [(Int, [UInt8])] = []
        try EncodedRows.forEachInterleaved(buffers) { offset, row in seen.append((offset, Array(row))) }
        #expect(seen.map(\.0) == Array(0..<7))
        #expect(seen.map(\.1) == rows)

        // Taking the buffers again empties them for the next chunk.
        let again = buffers[0].takeAll()
        #expect(again.ends.isEmpty && again.bytes.bytes.isEmpty)
    }
}
