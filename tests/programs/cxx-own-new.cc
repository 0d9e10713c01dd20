// A program with an operator new of its own, over malloc, and the default
// delete (libdmem.so's when preloaded): its new's blocks come from malloc,
// so delete and free of them are both right, and so is delete of a block
// from malloc, as glibc's operators work.
#include <cstdio>
#include <cstdlib>
#include <new>

#define ESCAPE(p) asm volatile ("" ::"r"(p) : "memory")

void *
operator new (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (p == nullptr)
    throw std::bad_alloc ();
  return p;
}

int
main ()
{
  long *one = new long (1);
  ESCAPE (one);
  delete one;
  one = new long (2);
  ESCAPE (one);
  free (one);
  void *m = malloc (16);
  ESCAPE (m);
  delete (long *) m;
  long *arr = new long[4]; // libstdc++'s new[] calls the program's new
  ESCAPE (arr);
  delete[] arr;
  printf ("own operators done\n");
  return 0;
}
