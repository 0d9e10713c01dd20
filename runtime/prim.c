/* Primitives: spin lock, cached thread id, page probe, allocation-free output.  */
#include "prim.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

void
dmem__lock_wait (int *lock)
{
  /* Held: critical sections are a few stores, so spin briefly, then give
     the CPU away in case the holder was preempted.  */
  for (unsigned spins = 0;; spins++)
    {
      while (__atomic_load_n (lock, __ATOMIC_RELAXED) != 0)
        {
          if (spins++ < 64)
            __builtin_ia32_pause ();
          else
            sched_yield ();
        }
      if (__atomic_exchange_n (lock, 1, __ATOMIC_ACQUIRE) == 0)
        return;
    }
}

int
dmem__trylock (int *lock)
{
  return __atomic_exchange_n (lock, 1, __ATOMIC_ACQUIRE) == 0;
}

__thread pid_t dmem__cached_tid;

pid_t
dmem__tid_slow (void)
{
  dmem__cached_tid = (pid_t) syscall (SYS_gettid);
  return dmem__cached_tid;
}

void
dmem__forget_tid (void)
{
  dmem__cached_tid = 0;
}

int
dmem__page_mapped (const void *addr)
{
  unsigned char vec;
  uintptr_t page = (uintptr_t) addr & ~(uintptr_t) 4095;
  int saved = errno;
  int r = mincore ((void *) page, 1, &vec);
  errno = saved;
  return r == 0;
}

void
dmem__put (struct dmem_line *l, const char *s)
{
  size_t n = strlen (s);
  if (n > sizeof l->buf - l->len)
    n = sizeof l->buf - l->len;
  memcpy (l->buf + l->len, s, n);
  l->len += n;
}

void
dmem__put_dec (struct dmem_line *l, uint64_t v)
{
  char tmp[24];
  char *p = tmp + sizeof tmp;
  *--p = 0;
  do
    *--p = '0' + v % 10;
  while ((v /= 10) != 0);
  dmem__put (l, p);
}

void
dmem__put_hex (struct dmem_line *l, uint64_t v)
{
  char tmp[24];
  char *p = tmp + sizeof tmp;
  *--p = 0;
  do
    *--p = "0123456789abcdef"[v & 15];
  while ((v >>= 4) != 0);
  *--p = 'x';
  *--p = '0';
  dmem__put (l, p);
}

void
dmem__flush (struct dmem_line *l, int fd)
{
  int saved = errno;
  size_t off = 0;
  while (off < l->len)
    {
      ssize_t w = write (fd, l->buf + off, l->len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break;
      off += (size_t) w;
    }
  l->len = 0;
  errno = saved;
}
