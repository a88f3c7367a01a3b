#include <lmdb.h>

/* A hint to start loading the cache line at `address` (it never faults): a walk over the
 * log asks for the page after next while it reads one, which the hardware prefetcher,
 * stopping at page boundaries, would not fetch until it is touched. */
static inline void authlog_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 0);
}
