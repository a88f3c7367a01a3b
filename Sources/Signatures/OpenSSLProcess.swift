import COpenSSL

/// OpenSSL's process-wide state, in a process whose threads may still use it while it exits.
public enum OpenSSLProcess {
    /// Keeps OpenSSL's state until the process is gone: by default OpenSSL frees it from an
    /// `atexit` handler, and a thread that uses OpenSSL or ends (its thread-local OpenSSL
    /// state freed) while another thread runs `exit` then frees memory twice or reads freed
    /// memory. A pool thread ending as a command exits is enough to crash it.
    ///
    /// Rule: each executable calls this first in `main`, before anything else touches OpenSSL
    /// (only the options of OpenSSL's first initialization count).
    public static func keepStateUntilExit() {
        _ = OPENSSL_init_crypto(UInt64(OPENSSL_INIT_NO_ATEXIT), nil)
    }
}
