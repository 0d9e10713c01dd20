/* The C allocation API, as thin definitions over heap.c: each takes its
   caller's stack, calls heap.c, and writes the trace-stderr line.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "entry.h"
#include "heap.h"
#include "integrity.h"
#include "options.h"
#include "unwind.h"

void
dmem__trace (const char *name, const char *spec, ...)
{
  struct dmem_line l = { .len = 0 };
  va_list ap;
  va_start (ap, spec);
  dmem__put (&l, name);
  dmem__put (&l, "(");
  int first = 1;
  for (const char *s = spec; *s; s++)
    {
      if (*s == '=')
        {
          dmem__put (&l, ") = ");
          first = -1;
          continue;
        }
      if (first == 0)
        dmem__put (&l, ", ");
      if (first == 1)
        first = 0;
      uint64_t v = va_arg (ap, uint64_t);
      if (*s == 'n')
        dmem__put_dec (&l, v);
      else if (v == 0)
        dmem__put (&l, "(nil)");
      else
        dmem__put_hex (&l, v);
    }
  va_end (ap);
  dmem__put (&l, first == -1 ? "\n" : ")\n");
  dmem__flush (&l, STDERR_FILENO);
}

ENTRY (malloc, dmem__malloc_entry, "rsi", "rdx");
IMPL void *
dmem__malloc_entry (size_t size, const uint64_t *sp, uint64_t bp)
{
  STACK (stack, sp, bp);
  void *p = dmem__malloc (size, &stack);
  TRACE ("malloc", "n=p", U (size), U (p));
  return p;
}

void
dmem__free_noted (void *p, int kind, const uint64_t *sp, uint64_t bp)
{
  static const char *const names[] = { DMEM_FREE_KIND_NAMES };
  TRACE (names[kind], "p", U (p));
  if (dmem__quarantine_on () && p != NULL)
    {
      /* The quarantine keeps the stack that freed each block.  */
      STACK (stack, sp, bp);
      dmem__delete (p, kind, stack.pcs);
    }
  else
    dmem__delete (p, kind, NULL);
}

ENTRY (free, dmem__free_entry, "rsi", "rdx");
IMPL void
dmem__free_entry (void *p, const uint64_t *sp, uint64_t bp)
{
  dmem__free_as (p, DMEM_ALLOC_MALLOC, sp, bp);
}

ENTRY (calloc, dmem__calloc_entry, "rdx", "rcx");
IMPL void *
dmem__calloc_entry (size_t n, size_t size, const uint64_t *sp, uint64_t bp)
{
  STACK (stack, sp, bp);
  void *p = dmem__calloc (n, size, &stack);
  TRACE ("calloc", "nn=p", U (n), U (size), U (p));
  return p;
}

ENTRY (realloc, dmem__realloc_entry, "rdx", "rcx");
IMPL void *
dmem__realloc_entry (void *old, size_t size, const uint64_t *sp, uint64_t bp)
{
  STACK (stack, sp, bp);
  void *p = dmem__realloc (old, size, &stack);
  TRACE ("realloc", "pn=p", U (old), U (size), U (p));
  return p;
}

ENTRY (reallocarray, dmem__reallocarray_entry, "rcx", "r8");
IMPL void *
dmem__reallocarray_entry (void *old, size_t n, size_t size,
                          const uint64_t *sp, uint64_t bp)
{
  size_t total;
  void *p;
  if (__builtin_mul_overflow (n, size, &total))
    {
      errno = ENOMEM;
      p = NULL;
    }
  else
    {
      STACK (stack, sp, bp);
      p = dmem__realloc (old, total, &stack);
    }
  TRACE ("reallocarray", "pnn=p", U (old), U (n), U (size), U (p));
  return p;
}

static int
power_of_two (size_t x)
{
  return x != 0 && (x & (x - 1)) == 0;
}

ENTRY (posix_memalign, dmem__posix_memalign_entry, "rcx", "r8");
IMPL int
dmem__posix_memalign_entry (void **out, size_t align, size_t size,
                            const uint64_t *sp, uint64_t bp)
{
  int err = EINVAL;
  if (power_of_two (align) && align % sizeof (void *) == 0)
    {
      STACK (stack, sp, bp);
      int saved = errno;
      void *p = dmem__aligned (align, size, &stack);
      err = p ? 0 : errno;
      errno = saved;
      if (p)
        *out = p;
    }
  TRACE ("posix_memalign", "nn=p", U (align), U (size), U (err ? NULL : *out));
  return err;
}

ENTRY (aligned_alloc, dmem__aligned_alloc_entry, "rdx", "rcx");
IMPL void *
dmem__aligned_alloc_entry (size_t align, size_t size, const uint64_t *sp,
                           uint64_t bp)
{
  void *p = NULL;
  if (power_of_two (align))
    {
      STACK (stack, sp, bp);
      p = dmem__aligned (align, size, &stack);
    }
  else
    errno = EINVAL;
  TRACE ("aligned_alloc", "nn=p", U (align), U (size), U (p));
  return p;
}

ENTRY (memalign, dmem__memalign_entry, "rdx", "rcx");
IMPL void *
dmem__memalign_entry (size_t align, size_t size, const uint64_t *sp,
                      uint64_t bp)
{
  void *p = NULL;
  if (align > SIZE_MAX / 2 + 1)
    errno = EINVAL;
  else
    {
      /* Like glibc: a non-power of two is rounded up to one.  */
      size_t a = 1;
      while (a < align)
        a <<= 1;
      STACK (stack, sp, bp);
      p = dmem__aligned (a, size, &stack);
    }
  TRACE ("memalign", "nn=p", U (align), U (size), U (p));
  return p;
}

ENTRY (valloc, dmem__valloc_entry, "rsi", "rdx");
IMPL void *
dmem__valloc_entry (size_t size, const uint64_t *sp, uint64_t bp)
{
  STACK (stack, sp, bp);
  void *p = dmem__aligned ((size_t) getpagesize (), size, &stack);
  TRACE ("valloc", "n=p", U (size), U (p));
  return p;
}

ENTRY (pvalloc, dmem__pvalloc_entry, "rsi", "rdx");
IMPL void *
dmem__pvalloc_entry (size_t size, const uint64_t *sp, uint64_t bp)
{
  size_t page = (size_t) getpagesize ();
  size_t rounded = (size + page - 1) & ~(page - 1);
  void *p = NULL;
  if (rounded < size)
    errno = ENOMEM;
  else
    {
      STACK (stack, sp, bp);
      p = dmem__aligned (page, rounded ? rounded : page, &stack);
    }
  TRACE ("pvalloc", "n=p", U (size), U (p));
  return p;
}

API size_t
malloc_usable_size (void *p)
{
  return dmem__usable_size (p);
}

/* Unloading a module frees its addresses for another: drop cached unwind
   rules that might name them.  */
API int
dlclose (void *handle)
{
  static int (*next_dlclose) (void *);
  if (next_dlclose == NULL)
    next_dlclose = dlsym (RTLD_NEXT, "dlclose");
  int r = next_dlclose (handle);
  dmem__unwind_forget ();
  return r;
}
