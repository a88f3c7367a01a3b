import Foundation

// One executable for every fuzz target: `authlog-fuzz TARGET [libFuzzer options] [CORPUS...]`.
//
// Built with `-D FUZZING -sanitize=fuzzer,address` (tools/fuzz/run.sh), it hands the target to
// libFuzzer. Built normally (the package's own build), it replays files: each argument is a
// file or a directory of files, each run through the target once, so a crash input can be
// reproduced under a debugger, and the committed corpus is checked by an ordinary build.
//
// A target crashes (a failed precondition) when a property does not hold; returning means
// the input was either refused as it should be or read back as it was written.

/// The targets by name; each reads one input and checks what it can about the result.
let targets: [String: (UnsafeRawBufferPointer) -> Void] = [
    "payload": FuzzPayload.run,
    "envelope": FuzzEnvelope.run,
    "export-line": FuzzExportLine.run,
    "strict-json": FuzzStrictJSON.run,
    "phc": FuzzPHC.run,
    "tokens": FuzzTokens.run,
    "jwt": FuzzJWT.run,
    "free-list": FuzzFreeList.run,
]

let arguments = CommandLine.arguments
#if !FUZZING
    if arguments.count == 4, arguments[1] == "seeds" {
        try Seeds.write(to: arguments[2], golden: arguments[3])
        exit(0)
    }
#endif
guard arguments.count >= 2, let target = targets[arguments[1]] else {
    FileHandle.standardError.write(
        Data("usage: authlog-fuzz \(targets.keys.sorted().joined(separator: "|")) [options] [corpus...]\n".utf8))
    exit(64)
}
selected = target

#if FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    // libFuzzer sees the program name followed by everything after the target's name.
    var argc = CommandLine.argc - 1
    var argv = CommandLine.unsafeArgv + 1
    argv[0] = CommandLine.unsafeArgv[0]
    exit(
        runDriver(&argc, &argv) { data, size in
            // The fuzzer's own buffer, exactly `size` bytes: the address sanitizer sees any read past it.
            selected(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        })
#else
    var count = 0
    for path in arguments.dropFirst(2) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            FileHandle.standardError.write(Data("authlog-fuzz: no such file \(path)\n".utf8))
            exit(66)
        }
        let files =
            isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 } : [path]
        for file in files {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
            // An exact-size heap copy, as libFuzzer passes it.
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
            bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
            selected(UnsafeRawBufferPointer(copy))
            copy.deallocate()
            count += 1
        }
    }
    print("\(arguments[1]): \(count) inputs replayed")
#endif
