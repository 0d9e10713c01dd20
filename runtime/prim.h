/* Primitives the runtime stands on.  None of them allocates, takes a lock
   another component holds, or calls back into malloc: they are safe inside
   the allocator, early in start-up, and in a forked child.  */
#ifndef DMEM_PRIM_H
#define DMEM_PRIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DMEM_HIDDEN __attribute__ ((visibility ("hidden")))
#define likely(x) __builtin_expect (!!(x), 1)
#define unlikely(x) __builtin_expect (!!(x), 0)

/* A lock for short critical sections: 0 free, 1 held.  Taking a free lock
   is one atomic exchange and releasing it a plain store; a waiter spins
   briefly, then yields so a preempted holder can finish.  Not recursive.  */
DMEM_HIDDEN void dmem__lock_wait (int *lock);

static inline void
dmem__lock (int *lock)
{
  if (unlikely (__atomic_exchange_n (lock, 1, __ATOMIC_ACQUIRE) != 0))
    dmem__lock_wait (lock);
}

static inline void
dmem__unlock (int *lock)
{
  __atomic_store_n (lock, 0, __ATOMIC_RELEASE);
}
/* Take LOCK if it is free; returns nonzero if taken.  */
DMEM_HIDDEN int dmem__trylock (int *lock);

/* The calling thread's kernel thread id, cached per thread.
   dmem__forget_tid: after fork, in the child, the cache is stale.  */
DMEM_HIDDEN extern __thread pid_t dmem__cached_tid;
DMEM_HIDDEN pid_t dmem__tid_slow (void);
static inline pid_t
dmem__tid (void)
{
  if (likely (dmem__cached_tid != 0))
    return dmem__cached_tid;
  return dmem__tid_slow ();
}
DMEM_HIDDEN void dmem__forget_tid (void);

/* Whether the page holding ADDR is mapped (one mincore(2) call).  */
DMEM_HIDDEN int dmem__page_mapped (const void *addr);

/* Text built in a caller-provided buffer and written with write(2), so
   messages can be printed from inside malloc.  Output past the end of the
   buffer is dropped, never overflows.  */
struct dmem_line
{
  char buf[2048];
  size_t len;
};
DMEM_HIDDEN void dmem__put (struct dmem_line *l, const char *s);
DMEM_HIDDEN void dmem__put_dec (struct dmem_line *l, uint64_t v);
DMEM_HIDDEN void dmem__put_hex (struct dmem_line *l, uint64_t v); /* 0x... */
/* Write the line to FD (all of it, retrying on EINTR) and empty it.  */
DMEM_HIDDEN void dmem__flush (struct dmem_line *l, int fd);

#endif
