// operator new and delete under the runtime.  MODE names one mismatched
// deallocation (the run aborts at the scene), or "clean": every form of new
// and delete used rightly, out-of-memory for each, and one leak.
// Functions are extern "C" and built with -rdynamic so the runtime's own
// report (dladdr) names them.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#define ESCAPE(p) asm volatile ("" ::"r"(p) : "memory")
#define NOINLINE __attribute__ ((noinline))

struct Counted
{
  long v = 1;
  ~Counted () { ESCAPE (this); } // a destructor: delete[] passes the size
};
struct alignas (64) Line
{
  char c[64];
};
struct alignas (4096) Page
{
  char c[100];
};

extern "C" {
NOINLINE int *allocate_array () { int *p = new int[10]; ESCAPE (p); return p; }
NOINLINE long *allocate_one () { long *p = new long (7); ESCAPE (p); return p; }
NOINLINE void *allocate_malloc () { void *p = malloc (24); ESCAPE (p); return p; }

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
// Each frees in a frame of its own: the asm after the call keeps GCC from
// making it a tail call.
#define AFTER asm volatile ("" ::: "memory")
NOINLINE void delete_one (int *p) { ESCAPE (p); delete p; AFTER; }
NOINLINE void delete_array (long *p) { ESCAPE (p); delete[] p; AFTER; }
NOINLINE void delete_malloced (void *p) { ESCAPE (p); delete (int *) p; AFTER; }
NOINLINE void free_new (void *p) { ESCAPE (p); free (p); AFTER; }
NOINLINE void *realloc_new (void *p)
{
  ESCAPE (p);
  void *q = realloc (p, 100);
  ESCAPE (q);
  return q;
}

// A string leaked with its buffer: libstdc++ allocates the buffer itself.
NOINLINE void leak_string ()
{
  std::string *s = new std::string;
  s->reserve (5000);
  ESCAPE (s);
}

// The deliberate leak of the clean run.
NOINLINE void leak_one ()
{
  long *p = new long[100];
  ESCAPE (p);
}
}

static int handler_calls;
static void
give_up ()
{
  // What a new handler does when it has nothing to free: give up.
  handler_calls++;
  throw std::bad_alloc ();
}
static void
uninstall ()
{
  handler_calls++;
  std::set_new_handler (nullptr);
}

static void
check (bool ok, const char *what)
{
  if (!ok)
    {
      fprintf (stderr, "FAILED: %s\n", what);
      exit (1);
    }
}

static const size_t huge = (size_t) 1 << 62;

static void
clean ()
{
  long *one = new long (1);
  ESCAPE (one);
  delete one; // sized delete
  Counted *arr = new Counted[5];
  ESCAPE (arr);
  delete[] arr; // sized delete[]
  int *ints = new int[3];
  ESCAPE (ints);
  delete[] ints;

  Line *line = new Line;
  check ((uintptr_t) line % 64 == 0, "new of an alignas(64) type is aligned");
  ESCAPE (line);
  delete line;
  Page *page = new Page;
  check ((uintptr_t) page % 4096 == 0, "new of an alignas(4096) type is aligned");
  ESCAPE (page);
  delete page;
  Page *pages = new Page[3];
  check ((uintptr_t) pages % 4096 == 0, "new[] of alignas(4096) is aligned");
  ESCAPE (pages);
  delete[] pages;
  void *a = ::operator new (100, std::align_val_t (64));
  check ((uintptr_t) a % 64 == 0, "aligned operator new");
  ::operator delete (a, std::align_val_t (64));
  a = ::operator new[] (100, std::align_val_t (4096));
  check ((uintptr_t) a % 4096 == 0, "aligned operator new[]");
  ::operator delete[] (a, 100, std::align_val_t (4096));
  a = ::operator new (10, std::align_val_t (64), std::nothrow);
  check (a && (uintptr_t) a % 64 == 0, "aligned nothrow new");
  ::operator delete (a, std::align_val_t (64), std::nothrow);
  a = ::operator new[] (10, std::align_val_t (64), std::nothrow);
  check (a && (uintptr_t) a % 64 == 0, "aligned nothrow new[]");
  ::operator delete[] (a, std::align_val_t (64), std::nothrow);
  a = ::operator new (10, std::nothrow);
  check (a != nullptr, "nothrow new");
  ::operator delete (a, std::nothrow);
  a = ::operator new[] (10, std::nothrow);
  check (a != nullptr, "nothrow new[]");
  ::operator delete[] (a, std::nothrow);
  a = ::operator new (5);
  ESCAPE (a);
  ::operator delete (a); // unsized
  delete (int *) nullptr;

  // Out of memory: nothrow returns NULL, the others throw std::bad_alloc.
  check (::operator new (huge, std::nothrow) == nullptr, "nothrow new of 2^62");
  check (::operator new[] (huge, std::nothrow) == nullptr, "nothrow new[] of 2^62");
  check (::operator new (huge, std::align_val_t (64), std::nothrow) == nullptr,
         "aligned nothrow new of 2^62");
  int thrown = 0;
  try { ESCAPE (::operator new (huge)); } catch (const std::bad_alloc &) { thrown++; }
  try { ESCAPE (::operator new[] (huge)); } catch (const std::bad_alloc &) { thrown++; }
  try { ESCAPE (::operator new (huge, std::align_val_t (4096))); }
  catch (const std::bad_alloc &) { thrown++; }
  check (thrown == 3, "new of 2^62 throws std::bad_alloc");

  // A new handler is called before giving up: it can uninstall itself
  // (then bad_alloc), or throw bad_alloc, which nothrow new turns to NULL.
  std::set_new_handler (uninstall);
  try { ESCAPE (::operator new (huge)); } catch (const std::bad_alloc &) { thrown++; }
  check (thrown == 4 && handler_calls == 1, "new calls the new handler");
  std::set_new_handler (give_up);
  check (::operator new (huge, std::nothrow) == nullptr && handler_calls == 2,
         "nothrow new calls the new handler and returns NULL when it throws");
  std::set_new_handler (nullptr);

  // libstdc++'s own calls of new and delete (string growth) are ours too.
  std::string s;
  for (int i = 0; i < 1000; i++)
    s += "grow";
  ESCAPE (s.data ());

  leak_one ();
  printf ("clean done\n");
}

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "clean";
  if (strcmp (mode, "clean") == 0)
    clean ();
  else if (strcmp (mode, "string-leak") == 0)
    leak_string ();
  else if (strcmp (mode, "array-delete") == 0)
    delete_one (allocate_array ());
  else if (strcmp (mode, "new-delete-array") == 0)
    delete_array (allocate_one ());
  else if (strcmp (mode, "malloc-delete") == 0)
    delete_malloced (allocate_malloc ());
  else if (strcmp (mode, "new-free") == 0)
    free_new (allocate_one ());
  else if (strcmp (mode, "array-free") == 0)
    free_new (allocate_array ());
  else if (strcmp (mode, "new-realloc") == 0)
    ESCAPE (realloc_new (allocate_one ()));
  else
    return 64;
  printf ("survived %s\n", mode);
  return 0;
}
