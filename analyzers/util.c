/* Failure messages, warnings and allocation that exits cleanly when memory runs out.  */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "dmem.h"

/* See dmem.h: keep the message in T for the front end to print.  */
int
dmem_fail (struct dmem_target *t, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (t->error, sizeof t->error, fmt, ap);
  va_end (ap);
  return -1;
}

/* See dmem.h.  */
const char *
dmem_failure (const struct dmem_target *t)
{
  return t->error[0] ? t->error : "cannot analyse the target";
}

/* See dmem.h: each distinct warning once.  */
void
dmem_warn (struct dmem_target *t, const char *fmt, ...)
{
  va_list ap;
  char *line;
  va_start (ap, fmt);
  int n = vasprintf (&line, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  for (size_t i = 0; i < t->nwarnings; i++)
    if (strcmp (t->warnings[i], line) == 0)
      {
	free (line);
	return;
      }
  t->warnings = dmem_xrealloc (t->warnings, t->nwarnings + 1,
			       sizeof *t->warnings);
  t->warnings[t->nwarnings++] = line;
  fprintf (t->err ? t->err : stderr, "dmem: warning: %s\n", line);
}

/* Seconds on a monotonic clock.  */
static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* See dmem.h: after a second of work, at most 5 updates a second, written
   straight to the terminal (not to T's message stream, which may be a
   buffer).  */
void
dmem_progress (struct dmem_target *t, const char *what, uint64_t done,
	       uint64_t total)
{
  if (!t->progress)
    return;
  double at = now ();
  if (t->progress_start == 0)
    t->progress_start = at;
  if (at - t->progress_start < 1 || at - t->progress_shown < 0.25)
    return;
  t->progress_shown = at;
  char line[128];
  int n = total
    ? snprintf (line, sizeof line, "\rdmem: %s: %3d%%\033[K", what,
		(int) (100.0 * (done < total ? done : total) / total))
    : snprintf (line, sizeof line, "\rdmem: %s...\033[K", what);
  if (n > 0 && write (STDERR_FILENO, line, n) < 0)
    t->progress = 0;
}

/* See dmem.h.  */
void
dmem_progress_end (struct dmem_target *t)
{
  if (t->progress && t->progress_shown != 0
      && write (STDERR_FILENO, "\r\033[K", 4) < 0)
    t->progress = 0;
  /* The clock keeps running: a second of work in several steps shows.  */
  t->progress_shown = 0;
}

/* See dmem.h.  */
int
dmem_usage_error (const char *fmt, const char *arg)
{
  fputs ("dmem: ", stderr);
  fprintf (stderr, fmt, arg);
  fputs ("\nTry 'dmem --help'.\n", stderr);
  return DMEM_EXIT_USAGE;
}

/* Give up with exit status 2: the input needs more memory than there is.  */
static void
out_of_memory (void)
{
  fputs ("dmem: out of memory\n", stderr);
  exit (DMEM_EXIT_BAD_INPUT);
}

/* Arrays of this size or more (one per block of a big core) are backed
   by transparent huge pages where the system allows them on request: the
   engine touches all of them, and 2 MiB pages fault 512 times less (a
   fault costs ~10 us on some VMs).  Only the whole huge pages inside the
   array are asked for, so none holds memory the array does not.  They
   come from malloc and calloc, which know when a chunk is fresh (zero)
   memory and when it is not.  */
#define BIG (2u << 20)
#define HUGE_PAGE (2ul << 20)

static void *
big (void *p, size_t size)
{
  uintptr_t start = ((uintptr_t) p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  uintptr_t end = ((uintptr_t) p + size) & ~(HUGE_PAGE - 1);
  if (p == NULL)
    out_of_memory ();
  if (size >= BIG && end > start)
    madvise ((void *) start, end - start, MADV_HUGEPAGE);
  return p;
}

/* malloc that never returns NULL.  A big array starts on a huge page, and
   ends on one when that adds less than an eighth: its tail then faults
   once, not up to 511 times.  */
void *
dmem_xmalloc (size_t size)
{
  void *p = NULL;
  if (size < BIG)
    return big (malloc (size ? size : 1), size);
  size_t whole = (size + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  if (whole - size < size / 8)
    size = whole;
  return big (posix_memalign (&p, HUGE_PAGE, size) == 0 ? p : NULL, size);
}

/* calloc that never returns NULL.  */
void *
dmem_xcalloc (size_t n, size_t size)
{
  size_t total;
  if (__builtin_mul_overflow (n, size, &total))
    out_of_memory ();
  return big (calloc (n ? n : 1, size ? size : 1), total);
}

/* reallocarray that never returns NULL.  */
void *
dmem_xrealloc (void *p, size_t n, size_t size)
{
  size_t total;
  if (__builtin_mul_overflow (n, size, &total))
    out_of_memory ();
  return big (reallocarray (p, n ? n : 1, size ? size : 1), total);
}

/* See dmem.h.  */
int
dmem_u64_cmp (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
  return x < y ? -1 : x > y;
}
