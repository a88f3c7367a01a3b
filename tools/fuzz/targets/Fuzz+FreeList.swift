import LMDB

/// LMDB's free list as authlog reads it when a data file ends before its last page
/// (`FreePages`, read from the file's bytes rather than through LMDB's map): the input is the
/// file, in pages of 4 KiB.
///
/// Properties: no read outside the input (the address sanitizer sees the fuzzer's own buffer),
/// no trap, a bounded walk (libFuzzer's timeout), and the same answer when read again.
enum FuzzFreeList {
    static func run(_ input: UnsafeRawBufferPointer) {
        let free = FreePages.read(file: input, pageSize: 4_096)
        require(FreePages.read(file: input, pageSize: 4_096) == free, "two readings of one file differ")
    }
}
