/* Allocation stacks through code built without frame pointers: each block's
   header must name the functions that led to the allocation.  Prints one
   line per check; exits 1 on the first wrong stack.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block-stack.h"

/* The stack recorded for block P, as dynamic symbol names joined by ' '.  */
static void
stack_of (void *p, char *out, size_t n)
{
  const struct dmem_block *b = (const struct dmem_block *) p - 1;
  out[0] = 0;
  if (b->magic != (DMEM_BLOCK_MAGIC ^ (uint64_t) (uintptr_t) b))
    {
      snprintf (out, n, "(no dmem header)");
      return;
    }
  const uint64_t *pcs = block_pcs (b);
  for (int i = 0; pcs != NULL && i < DMEM_STACK_DEPTH && pcs[i]; i++)
    {
      Dl_info info;
      const char *name = "?";
      if (dladdr ((void *) (uintptr_t) (pcs[i] - 1), &info) && info.dli_sname)
        name = info.dli_sname;
      size_t len = strlen (out);
      snprintf (out + len, n - len, "%s%s", len ? " " : "", name);
    }
}

/* Whether WANT's words appear in HAVE in order, each as the end of a word
   (glibc's aliases: "strdup" matches "__strdup").  */
static int
in_order (const char *have, const char *want)
{
  char w[256];
  snprintf (w, sizeof w, "%s", want);
  const char *at = have;
  for (char *tok = strtok (w, " "); tok; tok = strtok (NULL, " "))
    {
      size_t len = strlen (tok);
      const char *f = at;
      for (;;)
        {
          f = strstr (f, tok);
          if (f == NULL)
            return 0;
          if (f[len] == ' ' || f[len] == 0)
            break;
          f += len;
        }
      at = f + len;
    }
  return 1;
}

static int failures;

static void
check (const char *what, void *p, const char *want)
{
  char have[1024];
  stack_of (p, have, sizeof have);
  int ok = in_order (have, want);
  printf ("%s %s: %s\n", ok ? "ok" : "WRONG", what, have);
  if (!ok)
    failures++;
}

__attribute__ ((noinline)) void *leaf_alloc (size_t n) { void *p = malloc (n); __asm__ volatile ("" ::: "memory"); return p; }
__attribute__ ((noinline)) void *middle_alloc (size_t n) { void *p = leaf_alloc (n + 1); __asm__ volatile ("" ::: "memory"); return p; }
__attribute__ ((noinline)) void *outer_alloc (size_t n) { void *p = middle_alloc (n * 2); __asm__ volatile ("" ::: "memory"); return p; }

/* One allocation site reached through two callers whose frames are alike:
   malloc sees the same stack pointer and return address from both.  */
__attribute__ ((noinline)) void *site (size_t n) { void *p = malloc (n); __asm__ volatile ("" ::: "memory"); return p; }
__attribute__ ((noinline)) void *via_a (size_t n) { void *p = site (n + 1); __asm__ volatile ("" ::: "memory"); return p; }
__attribute__ ((noinline)) void *via_b (size_t n) { void *p = site (n + 2); __asm__ volatile ("" ::: "memory"); return p; }

int
main (void)
{
  /* stdout's buffer is allocated deep inside glibc (built -O2, no frame
     pointers) by the first output.  */
  puts ("hello");
  check ("stdout buffer", stdout->_IO_buf_base, "_IO_file_doallocate puts main");
  void *p = outer_alloc (10);
  check ("nested", p, "leaf_alloc middle_alloc outer_alloc main");
  void *q = strdup ("x");
  check ("strdup", q, "strdup main");
  void *r = calloc (3, 5);
  check ("calloc", r, "main");
  void *s = realloc (q, 100);
  check ("realloc", s, "main");
  void *t = NULL;
  if (posix_memalign (&t, 4096, 10) == 0)
    check ("posix_memalign", t, "main");
  /* The runtime checks a stack it took lately from the same stack pointer
     and return address instead of walking it again, short stacks (this
     one ends at _start) included: the caller that differs must show.  */
  for (int i = 0; i < 3; i++)
    {
      void *a = via_a (8), *b = via_b (8);
      check ("same site, first caller", a, "site via_a main");
      check ("same site, second caller", b, "site via_b main");
      free (a);
      free (b);
    }
  free (p); free (r); free (s); free (t);
  return failures != 0;
}
