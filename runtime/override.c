/* The C allocation API, as thin definitions over heap.c, plus the
   trace-stderr line for each call.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "heap.h"
#include "options.h"
#include "unwind.h"

#define API __attribute__ ((visibility ("default")))

/* Write "NAME(ARGS) = RESULT" to stderr without allocating.  SPEC has one
   letter per value: 'n' decimal, 'p' pointer; a '=' separates the result.  */
static void
trace (const char *name, const char *spec, ...)
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

#define TRACE(...) \
  do { if (unlikely (dmem__options.trace_stderr)) trace (__VA_ARGS__); } while (0)
#define U(x) ((uint64_t) (uintptr_t) (x))

API void *
malloc (size_t size)
{
  void *p = dmem__malloc (size);
  TRACE ("malloc", "n=p", U (size), U (p));
  return p;
}

API void
free (void *p)
{
  TRACE ("free", "p", U (p));
  dmem__free (p);
}

API void *
calloc (size_t n, size_t size)
{
  void *p = dmem__calloc (n, size);
  TRACE ("calloc", "nn=p", U (n), U (size), U (p));
  return p;
}

API void *
realloc (void *old, size_t size)
{
  void *p = dmem__realloc (old, size);
  TRACE ("realloc", "pn=p", U (old), U (size), U (p));
  return p;
}

API void *
reallocarray (void *old, size_t n, size_t size)
{
  size_t total;
  void *p;
  if (__builtin_mul_overflow (n, size, &total))
    {
      errno = ENOMEM;
      p = NULL;
    }
  else
    p = dmem__realloc (old, total);
  TRACE ("reallocarray", "pnn=p", U (old), U (n), U (size), U (p));
  return p;
}

static int
power_of_two (size_t x)
{
  return x != 0 && (x & (x - 1)) == 0;
}

API int
posix_memalign (void **out, size_t align, size_t size)
{
  int err = EINVAL;
  if (power_of_two (align) && align % sizeof (void *) == 0)
    {
      int saved = errno;
      void *p = dmem__aligned (align, size);
      err = p ? 0 : errno;
      errno = saved;
      if (p)
        *out = p;
    }
  TRACE ("posix_memalign", "nn=p", U (align), U (size), U (err ? NULL : *out));
  return err;
}

API void *
aligned_alloc (size_t align, size_t size)
{
  void *p = NULL;
  if (power_of_two (align))
    p = dmem__aligned (align, size);
  else
    errno = EINVAL;
  TRACE ("aligned_alloc", "nn=p", U (align), U (size), U (p));
  return p;
}

API void *
memalign (size_t align, size_t size)
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
      p = dmem__aligned (a, size);
    }
  TRACE ("memalign", "nn=p", U (align), U (size), U (p));
  return p;
}

API void *
valloc (size_t size)
{
  void *p = dmem__aligned ((size_t) getpagesize (), size);
  TRACE ("valloc", "n=p", U (size), U (p));
  return p;
}

API void *
pvalloc (size_t size)
{
  size_t page = (size_t) getpagesize ();
  size_t rounded = (size + page - 1) & ~(page - 1);
  void *p = NULL;
  if (rounded < size)
    errno = ENOMEM;
  else
    p = dmem__aligned (page, rounded ? rounded : page);
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
