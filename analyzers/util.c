/* Failure messages, warnings and allocation that exits cleanly when memory runs out.  */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "dmem.h"

static char failure[1024];

/* See dmem.h: keep the message for main to print.  */
int
dmem_fail (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (failure, sizeof failure, fmt, ap);
  va_end (ap);
  return -1;
}

/* The last dmem_fail message.  */
const char *
dmem_failure (void)
{
  return failure[0] ? failure : "cannot analyse the target";
}

/* See dmem.h.  */
void
dmem_warn (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  fputs ("dmem: warning: ", stderr);
  vfprintf (stderr, fmt, ap);
  putc ('\n', stderr);
  va_end (ap);
}

/* Give up with exit status 2: the input needs more memory than there is.  */
static void
out_of_memory (void)
{
  fputs ("dmem: out of memory\n", stderr);
  exit (DMEM_EXIT_BAD_INPUT);
}

/* malloc that never returns NULL.  */
void *
dmem_xmalloc (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (p == NULL)
    out_of_memory ();
  return p;
}

/* calloc that never returns NULL.  */
void *
dmem_xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size ? size : 1);
  if (p == NULL)
    out_of_memory ();
  return p;
}

/* reallocarray that never returns NULL.  */
void *
dmem_xrealloc (void *p, size_t n, size_t size)
{
  p = reallocarray (p, n ? n : 1, size ? size : 1);
  if (p == NULL)
    out_of_memory ();
  return p;
}

