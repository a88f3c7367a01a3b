import AccessTokens
import AuthDomain
import AuthHTTP
import AuthService
import DataProtection
import EventLogLMDB
import Foundation
import Logging
import PasswordHashing
import Projections
import TestSupport
import Testing

@Suite(.ownThreads) struct OpenAPITests {
    /// `METHOD /path` for every operation in docs/openapi.yaml.
    func documentedRoutes() throws -> Set<String> {
        var url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
            url.deleteLastPathComponent()
        }
        let text = try String(contentsOf: url.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        var routes = Set<String>()
        var inPaths = false
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") { path = String(line.dropFirst(2).dropLast()) }
            for method in ["get", "post", "put", "patch", "delete"] where line == "    \(method):" {
                routes.insert("\(method.uppercased()) \(path ?? "?")")
            }
        }
        return routes
    }

    @Test func everyRegisteredRouteIsDocumentedAndTheOtherWayRound() throws {
        let data = NSTemporaryDirectory() + "openapi-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: data) }
        let log = try LMDBEventLog(directory: data)
        defer { log.close() }
        let pool = HashingPool(threads: 1)
        defer { pool.stop() }
        let keys = try KeyStore(dataDirectory: data, environment: [:])
        let projection = try UserProjection(log: log, keys: keys)
        let service = try AuthService(
            log: log, keys: keys, configuration: .init(passwordPolicy: try PasswordPolicy()), pool: pool,
            mailer: try MaildirMailer(directory: data + "/maildir"))
        let server = AuthServer(
            configuration: .init(), service: service, reads: UserQueries(projection),
            tokens: AccessTokenIssuer(
                issuer: "authlog", audience: "authlog",
                keys: try SigningKeys(file: data + "/signing-keys", sealing: #require(keys.fileSealingKey))),
            logger: Logger(label: "test"))
        _ = server.router()
        let registered = Set(server.registeredRoutes.map { $0.replacingOccurrences(of: ":id", with: "{id}") })
        let documented = try documentedRoutes()
        #expect(registered.count == 28)
        #expect(registered.subtracting(documented).isEmpty, "undocumented: \(registered.subtracting(documented))")
        #expect(
            documented.subtracting(registered).isEmpty,
            "documented but not served: \(documented.subtracting(registered))")
    }
}
