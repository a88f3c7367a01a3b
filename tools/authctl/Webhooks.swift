import ArgumentParser
import AsyncHTTPClient
import AuthDomain
import DataProtection
import Foundation
import Webhooks

struct WebhooksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhooks",
        abstract: "Add, list, remove and test the endpoints authd posts the log's events to.",
        discussion: """
            Endpoints live in DATA/webhooks/ (0700; each endpoint's file, with its signing \
            secret sealed under the key-encryption key, 0600): add and test need that key, as \
            authd does, and on a cluster node's directory --log-url for the shared key store. \
            A running authd picks up a change within a second, without a restart. \
            Deliveries are signed by the Standard Webhooks scheme; see docs/operations.md.

            Example:
              authctl --data ./data webhooks add https://app.example.com/hooks/authlog --events UserRegistered,UserErased
              authctl --data ./data webhooks list
            """,
        subcommands: [Add.self, List.self, Remove.self, Test.self])

    @ParentCommand var root: Authctl

    /// The key the endpoints' secrets are sealed under: the data directory's key store's, or
    /// with `--log-url` the shared database's (a cluster node's directory holds no store).
    func sealing() throws -> FileSealingKey {
        guard let sealing = try openSharedKeys(root, readOnly: true).fileSealingKey else {
            printError(
                "authctl: \(root.data) holds no key store to seal a webhook secret with: start authd on it once, or give --log-url for a cluster node's directory"
            )
            throw ExitCode(2)
        }
        return sealing
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an endpoint; prints its id and its signing secret (shown only this once).")
        @ParentCommand var webhooks: WebhooksCommand
        @Argument(help: "The receiver's http or https URL.") var url: String
        @Option(help: "Event types to post, comma-separated (docs/events.md), or * for all.") var events: String
        @Option(help: "Start after this log position (0: the whole log; default: the head when authd picks it up).")
        var after: UInt64?

        func run() throws {
            let types = events.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            let known = Set(UserEvent.Kind.allCases.map { $0.name.description })
            try checkDataDirectory(webhooks.root.data, readOnly: false)
            let sealing = try webhooks.sealing()
            let (endpoint, secret) = try failing {
                try WebhookStore(dataDirectory: webhooks.root.data).add(
                    url: url, events: types, knownTypes: known, startAfter: after, sealing: sealing)
            }
            print("id: \(endpoint.id)")
            print("secret: \(secret)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints with their delivery state.")
        @ParentCommand var webhooks: WebhooksCommand
        @Flag(help: "Print one JSON object per line.") var json = false

        func run() throws {
            let store = WebhookStore(dataDirectory: webhooks.root.data)
            for endpoint in try failing({ try store.endpoints() }) {
                let state = try failing { try store.state(of: endpoint.id) }
                let status =
                    state?.disabledAt != nil ? "disabled" : state?.failingSince != nil ? "failing" : "active"
                if json {
                    var object: [String: Any] = [
                        "id": endpoint.id, "url": endpoint.url, "events": endpoint.events, "status": status,
                        "created_at": endpoint.createdAt,
                    ]
                    object["checkpoint"] = state.map { Int($0.checkpoint) }
                    object["failing_since"] = state?.failingSince
                    object["disabled_at"] = state?.disabledAt
                    object["last_error"] = state?.lastError
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else {
                    var line =
                        "\(endpoint.id) \(status) \(endpoint.url) events=\(endpoint.events.joined(separator: ","))"
                    if let state { line += " checkpoint=\(state.checkpoint)" }
                    if let since = state?.failingSince { line += " failing_since=\(since)" }
                    if let disabled = state?.disabledAt { line += " disabled_at=\(disabled)" }
                    if let error = state?.lastError { line += " last_error=\"\(error)\"" }
                    print(line)
                }
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an endpoint; deliveries to it stop.")
        @ParentCommand var webhooks: WebhooksCommand
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        func run() throws {
            try checkDataDirectory(webhooks.root.data, readOnly: false)
            try failing { try WebhookStore(dataDirectory: webhooks.root.data).remove(id) }
            print("removed \(id)")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Post a signed `webhook.test` message to an endpoint now; exit 1 unless it answers 2xx.")
        @ParentCommand var webhooks: WebhooksCommand
        @Argument(help: "The endpoint's id (ep_...).") var id: String

        func run() async throws {
            let endpoint = try failing { try WebhookStore(dataDirectory: webhooks.root.data).endpoint(id) }
            let sealing = try webhooks.sealing()
            let key: [UInt8]
            do {
                key = try endpoint.signingKey(sealing)
            } catch .doesNotOpen {
                printError("authctl: endpoint \(id)'s secret does not open with this directory's key-encryption key")
                throw ExitCode(2)
            } catch {
                printError("authctl: endpoint \(id) has an unusable secret")
                throw ExitCode(2)
            }
            let messageID = "msg_test_" + UUID().uuidString.lowercased()
            let now = ISO8601DateFormatter().string(from: Date())
            let body = Array(#"{"data":{},"timestamp":"\#(now)","type":"webhook.test"}"#.utf8)
            let client = WebhookDispatcher.makeClient()
            let outcome = await WebhookDispatcher.send(
                body, id: messageID, to: endpoint.url, key: key, client: client, timeout: .seconds(10))
            try? await client.shutdown()
            if let outcome {
                printError("authctl: \(endpoint.url) answered \(outcome)")
                throw ExitCode(1)
            }
            print("delivered \(messageID) to \(endpoint.url)")
        }
    }
}
