/// The target this process runs (libFuzzer's callback is a C function: it cannot capture).
nonisolated(unsafe) var selected: (UnsafeRawBufferPointer) -> Void = { _ in }

/// A property that must hold for every input: a failure crashes, and libFuzzer keeps the input.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("property violated: \(message())") }
}
