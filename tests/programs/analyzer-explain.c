/* What dmem explain explains: a block held only by a global, one held only
   from a local of a live frame (hold_on_stack), a chain of three blocks
   from a global (each link at offset 16), a block held only through an
   interior pointer, a leaked cycle of two blocks, a freed block.  Prints
   "NAME 0xADDRESS" lines on stderr for the test, then exits from inside
   hold_on_stack (under DMEM_OPTS=abort-shutdown: a kernel core with that
   frame live).  With an argument it prints "ready" first and waits for
   stdin to close (gcore, a live process).

   The addresses of blocks nothing should hold are kept XORed with MASK,
   and what earlier calls left on the stack is overwritten, so no stale
   copy keeps them.  */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Drop P so no register or live stack slot keeps it.  */
#define DROP(p) __asm__ volatile ("" : "+r" (p) : : "memory")
#define MASK 0x5a5a5a5a5a5a5a5aULL

struct link
{
  char pad[16];
  struct link *next;        /* offset 16 */
  char tail[40];
};

struct node
{
  struct node *next;
  char payload[40];
};

/* Held only here (the executable's .bss).  */
char *held_by_global;
/* The first of three blocks, each holding the next at offset 16.  */
struct link *chain_head;
/* 8 bytes into a block: the block is only possibly reachable.  */
char *held_inside;
/* Hidden addresses: the cycle's two blocks, the freed block, the block
   on the stack.  */
uintptr_t hidden_cycle[2], hidden_freed, hidden_stack;
static char *doomed;

static __attribute__ ((noinline)) void
keep_in_global (void)
{
  char *p = malloc (111);
  memset (p, 'g', 111);
  held_by_global = p;
}

static __attribute__ ((noinline)) void
make_chain (void)
{
  struct link *l[3];
  for (int i = 0; i < 3; i++)
    {
      l[i] = malloc (sizeof *l[i]);
      memset (l[i], 0, sizeof *l[i]);
    }
  l[0]->next = l[1];
  l[1]->next = l[2];
  chain_head = l[0];
  for (int i = 0; i < 3; i++)
    DROP (l[i]);
}

static __attribute__ ((noinline)) void
make_inside (void)
{
  char *p = malloc (99);
  memset (p, 'i', 99);
  held_inside = p + 8;
  DROP (p);
}

/* Two blocks pointing to each other, then dropped: the lower is a direct
   leak, the higher an indirect one.  */
static __attribute__ ((noinline)) void
make_cycle (void)
{
  struct node *a = malloc (sizeof *a), *b = malloc (sizeof *b);
  memset (a, 0, sizeof *a);
  memset (b, 0, sizeof *b);
  a->next = b;
  b->next = a;
  hidden_cycle[0] = (uintptr_t) (a < b ? a : b) ^ MASK;
  hidden_cycle[1] = (uintptr_t) (a < b ? b : a) ^ MASK;
  DROP (a);
  DROP (b);
}

/* Overwrite what earlier calls left below the caller's frame.  */
static __attribute__ ((noinline)) void
scrub_stack (void)
{
  char buf[32768];
  memset (buf, 0, sizeof buf);
  __asm__ volatile ("" : : "r" (buf) : "memory");
}

/* Free the doomed block, print the addresses, and wait when asked.  */
static __attribute__ ((noinline)) void
finish (int wait)
{
  hidden_freed = (uintptr_t) doomed ^ MASK;
  free (doomed);
  doomed = NULL;
  FILE *e = stderr;
  fprintf (e, "global %p\n", (void *) held_by_global);
  fprintf (e, "global_var %p\n", (void *) &held_by_global);
  fprintf (e, "chain %p %p %p\n", (void *) chain_head,
	   (void *) chain_head->next, (void *) chain_head->next->next);
  fprintf (e, "inside %p\n", (void *) (held_inside - 8));
  fprintf (e, "cycle 0x%lx 0x%lx\n", (unsigned long) (hidden_cycle[0] ^ MASK),
	   (unsigned long) (hidden_cycle[1] ^ MASK));
  fprintf (e, "freed 0x%lx\n", (unsigned long) (hidden_freed ^ MASK));
  fprintf (e, "stack 0x%lx\n", (unsigned long) (hidden_stack ^ MASK));
  fprintf (e, "tid %ld\n", (long) getpid ());
  scrub_stack ();
  if (wait)
    {
      puts ("ready");
      fflush (stdout);
      char buf[64];
      while (read (0, buf, sizeof buf) > 0)
	;
    }
  fflush (stdout);
}

/* A block whose only pointer is P, a local of this frame, live while the
   program waits and exits.  */
static __attribute__ ((noinline)) void
hold_on_stack (int wait)
{
  char *volatile p = malloc (444);
  memset (p, 's', 444);
  hidden_stack = (uintptr_t) p ^ MASK;
  finish (wait);
  exit (0);
}

int
main (int argc, char **argv)
{
  (void) argv;
  puts ("explain");   /* stdout's buffer, before anything is hidden */
  doomed = malloc (3000);
  memset (doomed, 'd', 3000);
  keep_in_global ();
  make_chain ();
  make_inside ();
  make_cycle ();
  scrub_stack ();
  hold_on_stack (argc > 1);
  return 0;
}
