import Foundation

/// What a program run to completion printed, and how it ended.
public struct ProcessOutput: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `executable` to completion, with `environment` (`nil`: this process's) and `input` on
/// its standard input (`nil`: closed at once), in `directory` (`nil`: this process's), and
/// collects what it printed.
public func runProcess(
    _ executable: URL, _ arguments: [String], environment: [String: String]? = nil, input: String? = nil,
    directory: String? = nil
) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { process.environment = environment }
    let out = Pipe()
    let err = Pipe()
    let inPipe = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = inPipe
    try process.run()
    if let input { inPipe.fileHandleForWriting.write(Data(input.utf8)) }
    try inPipe.fileHandleForWriting.close()
    // Both pipes are read at once: read one after the other, a program that fills the second
    // pipe's buffer before closing the first would wait on this one forever.
    let errors = CollectedOutput()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitForExit()
    return ProcessOutput(
        status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
        stderr: String(decoding: errors.data, as: UTF8.self))
}

/// What one pipe gave, written by the task that read it before the group it ran in ends.
private final class CollectedOutput: @unchecked Sendable {
    var data = Data()
}
