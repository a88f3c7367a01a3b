import CLMDB
import Glibc

extension Environment {
    /// The size of `data.mdb` and the bytes its pages in use reach to, when the file is
    /// shorter than that (cut short: a partial copy, a truncated backup); nil when it holds
    /// every page it uses.
    ///
    /// Rules:
    /// - LMDB reads pages in place through its memory map, so a page past the end of the file
    ///   raises SIGBUS in the reading process instead of returning an error. Call this right
    ///   after opening, before any transaction, and refuse the environment unless it is nil.
    /// - It reads only the meta pages (which opening already read) and the file's size.
    /// - A file cut short while it is open is not caught.
    public func missingPages() throws(LMDBError) -> (fileBytes: Int, usedBytes: Int)? {
        try withOpenHandle { handle throws(LMDBError) in
            var info = MDB_envinfo()
            var stat = MDB_stat()
            var descriptor: Int32 = -1
            try check(mdb_env_info(handle, &info))
            try check(mdb_env_stat(handle, &stat))
            try check(mdb_env_get_fd(handle, &descriptor))
            var file = Glibc.stat()
            guard fstat(descriptor, &file) == 0 else { throw LMDBError(code: errno) }
            let used = (Int(info.me_last_pgno) + 1) * Int(stat.ms_psize)
            return Int(file.st_size) < used ? (Int(file.st_size), used) : nil
        }
    }
}
