// The HTTP limits of the peer benchmark (tools/peer-bench/run.sh): a server that answers every
// GET with one fixed JSON body and does no other work, so that what authd adds to a request
// can be told from what its HTTP stack costs.
//
//   http-peer hummingbird BODY_FILE    a bare Hummingbird 2 route, GET /v1/users/:id
//   http-peer nio BODY_FILE            a bare SwiftNIO HTTP/1 handler, any request
//
// Both listen on a free port of 127.0.0.1 and print one line `listening on 127.0.0.1:PORT`
// once they accept connections; both run one event loop a core, as authd does.
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 3, let body = FileManager.default.contents(atPath: arguments[2]) else {
    FileHandle.standardError.write(Data("usage: http-peer hummingbird|nio BODY_FILE\n".utf8))
    exit(64)
}
switch arguments[1] {
case "hummingbird":
    try await HummingbirdPeer(body: Array(body)).run()
case "nio":
    try NIOPeer(body: Array(body)).run()
default:
    FileHandle.standardError.write(Data("http-peer: the server is hummingbird or nio, not \(arguments[1])\n".utf8))
    exit(64)
}
