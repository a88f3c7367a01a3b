import CLMDB

extension Environment {
    /// Writes a compacted copy of the environment, as one read snapshot sees it, into the
    /// existing empty directory `directory` (its `data.mdb`). Writers go on meanwhile; the copy
    /// holds none of their later commits.
    public func copy(toDirectory directory: String) throws(LMDBError) {
        try withOpenHandle { handle throws(LMDBError) in
            try check(mdb_env_copy2(handle, directory, UInt32(MDB_CP_COMPACT)))
        }
    }
}
