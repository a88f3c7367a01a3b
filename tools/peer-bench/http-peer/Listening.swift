import Foundation

/// The line the benchmark script waits for.
enum Listening {
    /// Writes `listening on 127.0.0.1:PORT` to standard output at once (unbuffered: the script
    /// reads it from a file while the server runs).
    static func announce(port: Int) {
        FileHandle.standardOutput.write(Data("listening on 127.0.0.1:\(port)\n".utf8))
    }
}
