import Foundation
import TestSupport
import Testing

/// An erasure by another process reaches a running authd: it stops serving the user's
/// personal fields within a second, and nothing of them is left at rest.
@Suite(.ownThreads) struct ErasureBesideAuthdTests {
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

    /// The scenario of issue 13: an import that fails half-way, then a retry, then an erasure.
    /// A running authd on the restored directory serves nothing of the user afterwards, and
    /// no copy of the user's data or key is left in the directory.
    @Test func anEraseAfterARefusedAndARepeatedImportLeavesAuthdNothingToServe() async throws {
        let source = try RunningServer { data throws in
            #expect(
                try authctl(
                    ["--data", data, "create-admin", "--email", "root@example.com"], input: Self.adminPassword + "\n")
                    == 0)
        }
        let personal = ["imogen.vasquez@example.com", "Imogenne", "Vasquezza", "+34 600 111 222"]
        let registered = try await source.call(
            "POST", "/v1/users",
            json: [
                "email": personal[0], "password": "correct horse battery", "first_name": personal[1],
                "last_name": personal[2], "phone": personal[3],
            ])
        let id = try #require(registered.json["id"] as? String)
        let lines = try authctlResult(["--data", source.data, "export"]).stdout.split(separator: "\n").map(String.init)
        var broken = lines
        var last = json(Substring(lines[lines.count - 1]))
        let hash = try #require(last["hash"] as? String)
        last["hash"] = (hash.hasPrefix("0") ? "1" : "0") + hash.dropFirst()
        broken[broken.count - 1] = String(decoding: try JSONSerialization.data(withJSONObject: last), as: UTF8.self)
        let files = NSTemporaryDirectory() + "authd-backups-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: files) }
        try (broken.joined(separator: "\n") + "\n").write(toFile: files + "/broken", atomically: true, encoding: .utf8)
        try (lines.joined(separator: "\n") + "\n").write(toFile: files + "/good", atomically: true, encoding: .utf8)

        let restored = try RunningServer { data throws in
            try FileManager.default.copyItem(atPath: source.data + "/kek", toPath: data + "/kek")
            #expect(try authctl(["--data", data, "import", files + "/broken"]) == 2)
            #expect(try FileManager.default.contentsOfDirectory(atPath: data) == ["kek"])
            #expect(try authctl(["--data", data, "import", files + "/good"]) == 0)
        }
        let admin = try await login(restored, "root@example.com", Self.adminPassword)
        let before = try await restored.call("GET", "/v1/users/\(id)/events", token: admin)
        #expect(String(decoding: before.body, as: UTF8.self).contains(personal[1]))
        let keys = try #require(FileManager.default.contents(atPath: restored.data + "/keys"))
        let userBytes = UUID(uuidString: id)!.uuidBytes
        let slots = stride(from: 64, to: keys.count, by: 80).filter { Array(keys[$0..<$0 + 16]) == userBytes }
        #expect(slots.count == 1, "the user has \(slots.count) key slots")
        let wrapped = Array(keys[(try #require(slots.first) + 16)..<(try #require(slots.first) + 76)])

        #expect(try authctl(["--data", restored.data, "erase", id]) == 0)
        let deadline = Date().addingTimeInterval(1)
        var trail = ""
        repeat {
            trail = String(
                decoding: try await restored.call("GET", "/v1/users/\(id)/events", token: admin).body, as: UTF8.self)
        } while personal.contains(where: trail.contains) && Date() < deadline
        #expect(!personal.contains(where: trail.contains), "authd still serves the erased fields: \(trail)")
        for needle in personal.map({ Array($0.utf8) }) + [wrapped] {
            #expect(filesContaining(needle, under: restored.data).isEmpty, "found at rest after erasure")
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
