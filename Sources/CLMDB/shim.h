#include <lmdb.h>

/* A hint to start loading the cache line at `address` (it never faults): a walk over the
 * log asks for the page after next while it reads one, which the hardware prefetcher,
 * stopping at page boundaries, would not fetch until it is touched. */
static inline void authlog_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 0);
}

/* Linux's fallocate(2), which Swift's Glibc module leaves out (it needs _GNU_SOURCE). Unlike
 * posix_fallocate it never falls back to writing the file: EOPNOTSUPP where the file system
 * cannot allocate ahead. */
extern int fallocate(int fd, int mode, off_t offset, off_t len);
