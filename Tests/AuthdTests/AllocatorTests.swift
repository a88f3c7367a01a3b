import Foundation
import TestSupport
import Testing

#if os(Linux)
    /// On Linux, authd allocates through jemalloc, not glibc's malloc (Package.swift links it
    /// there; docs/architecture.md, "jemalloc as authd's allocator").
    @Suite(.ownThreads)
    struct AllocatorTests {
        /// jemalloc, asked through its own setting (`MALLOC_CONF`), prints its statistics when
        /// authd exits, and they count the memory authd's allocations hold. With glibc's malloc
        /// serving them, nothing reads the setting and nothing is printed.
        @Test func authdAllocatesThroughJemalloc() async throws {
            // The summary only (`stats_print_opts` leaves out every table): the whole statistics
            // would fill the pipe, which is read only once authd has exited.
            let server = try RunningServer(environment: ["MALLOC_CONF": "stats_print:true,stats_print_opts:gmdablxe"])
            let reply = try await server.call("GET", "/healthz")
            #expect(reply.status == 200)
            server.process.terminate()  // SIGTERM: a graceful exit, which runs jemalloc's exit hook
            server.process.waitForExit()
            #expect(server.process.terminationStatus == 0)
            let output = server.remainingOutput()
            #expect(output.contains("___ Begin jemalloc statistics ___"))
            // "Allocated: N, active: …": the bytes allocated and not yet freed at exit.
            let allocated = output.split(separator: "\n").first { $0.hasPrefix("Allocated: ") }
                .flatMap { Int($0.dropFirst("Allocated: ".count).prefix { $0.isNumber }) }
            #expect((allocated ?? 0) > 0)
        }
    }
#endif
