/* Retained sizes for the analyzer: a small cache table in a global that
   holds many large entries (chained from its 16 slots), bigger blocks
   kept by a global array of their own, a block shared by two holders, and
   a chain a -> b -> c from a global.  Each kind is allocated from its own
   function, so each is its own stack.  Prints the sizes it used, one
   "NAME COUNT SIZE" a line; with "wait", then "ready" and waits on stdin
   (for gcore), else returns (for the runtime's abort at shutdown).  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 16
#define ENTRIES 200
#define ENTRY_SIZE 4096
#define NOISE 100
#define NOISE_SIZE 6000
#define HOLDER_A_SIZE 32
#define HOLDER_B_SIZE 48
#define SHARED_SIZE 50000
#define A_SIZE 100
#define B_SIZE 200
#define C_SIZE 300

/* Keep P alive in the compiler's eyes (no elided or tail-called malloc).  */
#define ESCAPE(p) __asm__ volatile ("" : : "r" (p) : "memory")

struct entry
{
  struct entry *next;   /* the rest of the slot's chain */
};

struct holder
{
  void *shared;
};

struct link
{
  struct link *next;
};

/* The roots: globals with external linkage, so that the compiler keeps
   the stores to them though nothing reads them.  */
struct entry **cache;          /* SLOTS slots */
void *noise[NOISE];
struct holder *holder_a, *holder_b;
struct link *chain;

static __attribute__ ((noinline)) struct entry **
cache_table_new (void)
{
  struct entry **t = malloc (SLOTS * sizeof *t);
  ESCAPE (t);
  memset (t, 0, SLOTS * sizeof *t);
  return t;
}

static __attribute__ ((noinline)) struct entry *
cache_entry_new (struct entry *next)
{
  struct entry *e = malloc (ENTRY_SIZE);
  ESCAPE (e);
  memset (e, 0x5a, ENTRY_SIZE);
  e->next = next;
  return e;
}

static __attribute__ ((noinline)) void *
noise_new (void)
{
  void *p = malloc (NOISE_SIZE);
  ESCAPE (p);
  memset (p, 0, NOISE_SIZE);
  return p;
}

static __attribute__ ((noinline)) void *
shared_new (void)
{
  void *p = malloc (SHARED_SIZE);
  ESCAPE (p);
  memset (p, 0, SHARED_SIZE);
  return p;
}

/* Two holders of one shared block, from two sites (distinct sizes, so
   the compiler does not fold them into one function).  */
#define HOLDER_NEW(name, size)						\
  static __attribute__ ((noinline)) struct holder *			\
  name (void *shared)							\
  {									\
    struct holder *h = malloc (size);					\
    ESCAPE (h);								\
    memset (h, 0, size);						\
    h->shared = shared;							\
    return h;								\
  }
HOLDER_NEW (holder_a_new, HOLDER_A_SIZE)
HOLDER_NEW (holder_b_new, HOLDER_B_SIZE)

/* One site per link of the chain, each SIZE bytes.  */
#define LINK_NEW(name, size)						\
  static __attribute__ ((noinline)) struct link *			\
  name (struct link *next)						\
  {									\
    struct link *l = malloc (size);					\
    ESCAPE (l);								\
    memset (l, 0, size);						\
    l->next = next;							\
    return l;								\
  }
LINK_NEW (chain_a_new, A_SIZE)
LINK_NEW (chain_b_new, B_SIZE)
LINK_NEW (chain_c_new, C_SIZE)

static __attribute__ ((noinline)) void
setup (void)
{
  cache = cache_table_new ();
  for (int i = 0; i < ENTRIES; i++)
    cache[i % SLOTS] = cache_entry_new (cache[i % SLOTS]);
  for (int i = 0; i < NOISE; i++)
    noise[i] = noise_new ();
  void *shared = shared_new ();
  holder_a = holder_a_new (shared);
  holder_b = holder_b_new (shared);
  chain = chain_a_new (chain_b_new (chain_c_new (NULL)));
}

/* Zero the stack below the caller's frame, so no stale copy of a pointer
   setup () held is a root.  */
static __attribute__ ((noinline)) void
scrub (void)
{
  char buf[65536];
  memset (buf, 0, sizeof buf);
  ESCAPE (buf);
}

int
main (int argc, char **argv)
{
  setvbuf (stdout, NULL, _IONBF, 0);
  setup ();
  scrub ();
  printf ("table 1 %zu\nentry %d %d\nnoise %d %d\nholder_a 1 %d\n"
	  "holder_b 1 %d\nshared 1 %d\nchain_a 1 %d\nchain_b 1 %d\n"
	  "chain_c 1 %d\n",
	  SLOTS * sizeof *cache, ENTRIES, ENTRY_SIZE, NOISE, NOISE_SIZE,
	  HOLDER_A_SIZE, HOLDER_B_SIZE, SHARED_SIZE, A_SIZE, B_SIZE, C_SIZE);
  scrub ();
  if (argc > 1 && strcmp (argv[1], "wait") == 0)
    {
      char c;
      puts ("ready");
      while (read (0, &c, 1) > 0)
	;
    }
  return 0;
}
