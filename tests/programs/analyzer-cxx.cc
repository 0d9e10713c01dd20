// C++ frames for the analyzer tests: blocks leaked through new in a namespace function, a template, an operator and calls GCC inlines; "wait" waits for gcore / --pid.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

// Keeps GCC from eliding an allocation whose pointer is then dropped.
#define ESCAPE(p) __asm__ volatile ("" : : "r" (p) : "memory")

namespace ns
{
struct Widget
{
  int id;
  char name[60];
  static Widget *make (int id);
};

__attribute__ ((noinline)) Widget *
Widget::make (int id)
{
  Widget *w = new Widget;  // line: widget-new
  w->id = id;
  ESCAPE (w);
  return w;
}

template <typename T>
__attribute__ ((noinline)) T *
make_array (int n)
{
  T *p = new T[n];  // line: template-new
  ESCAPE (p);
  return p;
}

struct Factory
{
  int made;
  __attribute__ ((noinline)) char *operator() (unsigned long n);
};

char *
Factory::operator() (unsigned long n)
{
  char *p = new char[n];  // line: operator-new
  made++;
  ESCAPE (p);
  return p;
}

// Two levels of calls inlined into leak_inlined.
static inline __attribute__ ((always_inline)) char *
alloc_chars (unsigned long n)
{
  char *p = new char[n];  // line: inner-new
  ESCAPE (p);
  return p;
}

static inline __attribute__ ((always_inline)) char *
fill_buffer (unsigned long n)
{
  char *p = alloc_chars (n);  // line: fill-call
  memset (p, 'x', n);
  ESCAPE (p);
  return p;
}

__attribute__ ((noinline)) void
leak_inlined (unsigned long n)
{
  char *p = fill_buffer (n);  // line: leak-inlined-call
  ESCAPE (p);
}

// Calls inlined 41 deep: more than the analyzer shows (32).
template <int N>
static inline __attribute__ ((always_inline)) char *
deep (unsigned long n)
{
  return deep<N - 1> (n + 1);  // line: deep-recurse
}

template <>
inline __attribute__ ((always_inline)) char *
deep<0> (unsigned long n)
{
  char *p = new char[n];  // line: deep-new
  ESCAPE (p);
  return p;
}

__attribute__ ((noinline)) void
leak_deep (void)
{
  char *p = deep<40> (100);  // line: deep-call
  ESCAPE (p);
}
}  // namespace ns

// Each leak on its own call, its pointer dropped on return.
__attribute__ ((noinline)) static void
leak_all (void)
{
  ESCAPE (ns::Widget::make (7));  // line: make-call
  ESCAPE (ns::make_array<long> (40));  // line: template-call
  ns::Factory f = { 0 };
  ESCAPE (f (1000));  // line: operator-call
  ns::leak_inlined (3000);  // line: inlined-call
  ns::leak_deep ();
  ESCAPE (&f);  // not a tail call: leak_all stays in the stacks
}

int
main (int argc, char **argv)
{
  leak_all ();
  if (argc > 1 && strcmp (argv[1], "wait") == 0)
    {
      char line[16];
      if (write (1, "ready\n", 6) != 6)
	return 1;
      if (fgets (line, sizeof line, stdin) == NULL)
	return 0;
    }
  return 0;
}
