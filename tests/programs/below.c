/* An allocator to layer dmem over (LD_PRELOAD=libdmem.so:libbelow.so): it
   forwards to glibc, and hands out page-aligned blocks with nothing mapped
   below them, the worst case of a foreign pointer reaching dmem's free.  */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

extern void *__libc_malloc (size_t);
extern void __libc_free (void *);
extern void *__libc_calloc (size_t, size_t);
extern void *__libc_realloc (void *, size_t);
extern void *__libc_memalign (size_t, size_t);
extern size_t malloc_usable_size (void *);

static void *page_block;
static int page_frees, calls;

/* A page-aligned block whose preceding page is unmapped.  */
void *
below_page_block (void)
{
  char *m = mmap (NULL, 2 * 4096, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  munmap (m, 4096);
  page_block = m + 4096;
  return page_block;
}

int below_page_frees (void) { return page_frees; }
int below_calls (void) { return calls; }

void *malloc (size_t n) { calls++; return __libc_malloc (n); }
void *calloc (size_t n, size_t s) { calls++; return __libc_calloc (n, s); }

void
free (void *p)
{
  calls++;
  if (p != NULL && p == page_block)
    {
      munmap (p, 4096);
      page_block = NULL;
      page_frees++;
      return;
    }
  __libc_free (p);
}

void *realloc (void *p, size_t n) { calls++; return __libc_realloc (p, n); }

int
posix_memalign (void **out, size_t align, size_t n)
{
  calls++;
  void *p = __libc_memalign (align, n);
  if (p == NULL)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}
