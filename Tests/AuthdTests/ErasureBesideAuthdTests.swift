import Foundation
import TestSupport
import Testing

/// An erasure by another process reaches a running authd: it stops serving the user's
/// personal fields within a second, and nothing of them is left at rest.
@Suite struct ErasureBesideAuthdTests {
    static let adminPassword = "an admin passphrase"

    func login(_ server: RunningServer, _ email: String, _ password: String) async throws -> String {
        let reply = try await server.call("POST", "/v1/sessions", json: ["email": email, "password": password])
        #expect(reply.status == 200, "login \(email): \(reply.status)")
        return reply.json["access_token"] as? String ?? ""
    }

    @Test func anEraseByAuthctlStopsAuthdServingTheFieldsWithinASecondAndLeavesNothingAtRest() async throws {
        let server = try RunningServer { data throws in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: Self.adminPassword + "\n")
                    == 0)
        }
        let personal = ["zelda.quist@example.com", "Zeldabeth", "Quistington", "+44 20 7946 0958"]
        let registered = try await server.call(
            "POST", "/v1/users",
            json: [
                "email": personal[0], "password": "correct horse battery", "first_name": personal[1],
                "last_name": personal[2], "phone": personal[3],
            ])
        #expect(registered.status == 201)
        let id = try #require(registered.json["id"] as? String)
        let admin = try await login(server, "root@example.com", Self.adminPassword)
        // authd reads the trail once, so it holds the user's data key.
        let before = try await server.call("GET", "/v1/users/\(id)/events", token: admin)
        #expect(before.status == 200 && String(decoding: before.body, as: UTF8.self).contains(personal[1]))
        let keys = try #require(FileManager.default.contents(atPath: server.data + "/keys"))
        let userBytes = UUID(uuidString: id)!.uuidBytes
        let slotStart = try #require(
            stride(from: 64, to: keys.count, by: 80).first { Array(keys[$0..<$0 + 16]) == userBytes })
        let wrapped = Array(keys[(slotStart + 16)..<(slotStart + 76)])

        #expect(try authctl(["--data", server.data, "erase", id]) == 0)
        let deadline = Date().addingTimeInterval(1)
        var trail = ""
        repeat {
            let reply = try await server.call("GET", "/v1/users/\(id)/events", token: admin)
            trail = String(decoding: reply.body, as: UTF8.self)
            if reply.status == 200 && !personal.contains(where: trail.contains) { break }
        } while Date() < deadline
        #expect(!personal.contains(where: trail.contains), "authd still serves the erased fields: \(trail)")
        let user = try await server.call("GET", "/v1/users/\(id)", token: admin)
        #expect(!personal.contains(where: String(decoding: user.body, as: UTF8.self).contains))

        for needle in personal.map({ Array($0.utf8) }) + [wrapped] {
            #expect(filesContaining(needle, under: server.data).isEmpty, "found at rest after erasure")
        }
    }
}

/// authctl run to completion with its output collected (`authctl` in Server.swift keeps only
/// the status), without the caller's `AUTHLOG_` settings.
func authctlResult(_ arguments: [String], input: String? = nil) throws -> ProcessOutput {
    try runProcess(
        products().appendingPathComponent("authctl"), arguments,
        environment: ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }, input: input)
}

/// A built product `name` with `arguments`, without the caller's `AUTHLOG_` settings.
func productProcess(_ name: String, _ arguments: [String]) -> Process {
    let process = Process()
    process.executableURL = products().appendingPathComponent(name)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("AUTHLOG_") }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    return process
}

func json(_ line: Substring) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
}

extension UUID {
    var uuidBytes: [UInt8] { withUnsafeBytes(of: uuid) { Array($0) } }
}
