// C++ allocation for comparing the ways operator new can reach dmem: one
// thread, built -O2 without frame pointers.  Usage: cxx-bench MODE N
//   new:    N times, replace one of 1000 live objects (new T of 16..527
//           bytes, half of them new[]), from a call stack a dozen frames deep
//   map:    N insertions and erasures in a std::map<int, std::string> of
//           about 1000 entries (a node and a string buffer each)
//   string: N strings built by appending (growing buffers, in libstdc++)
// Prints "SECONDS s, NS per operation (checksum C)".
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <string>

static uint64_t rng = 0x9e3779b97f4a7c15ULL, sum;

static uint64_t
next_random ()
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

enum { LIVE = 1000 };
struct Object
{
  char *bytes;
  bool array;
};
static Object window[LIVE];

template <size_t N> struct Sized
{
  char c[N];
};

// Replace one object of the window: delete it as it was made, make another.
__attribute__ ((noinline)) static void
leaf ()
{
  uint64_t r = next_random ();
  Object &o = window[(r >> 16) % LIVE];
  if (o.array)
    delete[] o.bytes;
  else
    delete reinterpret_cast<Sized<16> *> (o.bytes);
  o.array = r & 1;
  if (o.array)
    o.bytes = new char[16 + ((r >> 1) & 511)];
  else
    o.bytes = reinterpret_cast<char *> (new Sized<16>);
  memset (o.bytes, (int) r, 16);
  sum += (unsigned char) o.bytes[8];
}

// Twelve distinct frames between the loop and new.
#define LEVEL(name, below)                                               \
  __attribute__ ((noinline)) static void name (int k)                    \
  {                                                                      \
    sum += (uint64_t) k;                                                 \
    below (k + 1);                                                       \
    asm volatile ("" ::: "memory");                                      \
  }
static void leaf_call (int) { leaf (); }
LEVEL (l11, leaf_call) LEVEL (l10, l11) LEVEL (l9, l10) LEVEL (l8, l9)
LEVEL (l7, l8) LEVEL (l6, l7) LEVEL (l5, l6) LEVEL (l4, l5) LEVEL (l3, l4)
LEVEL (l2, l3) LEVEL (l1, l2)

static void
bench_new (long n)
{
  for (long i = 0; i < n; i++)
    l1 ((int) (i & 3));
  for (Object &o : window)
    if (o.array)
      delete[] o.bytes;
    else
      delete reinterpret_cast<Sized<16> *> (o.bytes);
}

static void
bench_map (long n)
{
  std::map<int, std::string> m;
  for (long i = 0; i < n; i++)
    {
      uint64_t r = next_random ();
      int key = (int) (r % 2000);
      if (r & 0x10000)
        m.erase (key);
      else
        m[key] = std::string (16 + ((r >> 20) & 63), 'x');
    }
  sum += m.size ();
}

static void
bench_string (long n)
{
  for (long i = 0; i < n; i++)
    {
      std::string s;
      for (int k = 0; k < 40; k++)
        s += "0123456789abcdef";
      sum += (unsigned char) s[(size_t) i % s.size ()];
    }
}

int
main (int argc, char **argv)
{
  if (argc != 3)
    {
      fprintf (stderr, "usage: cxx-bench new|map|string N\n");
      return 64;
    }
  long n = atol (argv[2]);
  timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  if (strcmp (argv[1], "new") == 0)
    bench_new (n);
  else if (strcmp (argv[1], "map") == 0)
    bench_map (n);
  else if (strcmp (argv[1], "string") == 0)
    bench_string (n);
  else
    return 64;
  clock_gettime (CLOCK_MONOTONIC, &t1);
  double s = (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf ("%.3f s, %.1f ns per operation (checksum %llu)\n", s,
          s * 1e9 / (double) n, (unsigned long long) (sum & 0xffff));
  return 0;
}
