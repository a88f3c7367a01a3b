#if canImport(Glibc)
    import Glibc
#endif

/// Names the calling thread as `ps -L`, `top -H`, `perf` and `/proc/PID/task/TID/comm` show
/// it. Linux keeps at most 15 bytes; a longer name is cut to that. Best effort: a system
/// without `/proc/thread-self` keeps the name the thread had.
///
/// Foundation's `Thread.name` does not reach the system's name on Linux: call this first in
/// the thread's body.
public func nameCurrentThread(_ name: String) {
    #if canImport(Glibc)
        // pthread_setname_np is not in Swift's Glibc module; the kernel takes the same name here.
        let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    #endif
}
