/* Leaks for the suppression and exit status tests, chosen by the arguments: "direct" (100 bytes from leak_direct), "list" (a dropped list of 3 48-byte nodes from leak_list: 1 direct, 2 indirect), "possible" (64 bytes from leak_possible, held by a global through its middle), "foo" (300 bytes from foo_leak in libfoo.so), "all" (every one); none: no leak.  A number is the exit status.  */
#include <stdlib.h>
#include <string.h>

void foo_leak (void);

struct node
{
  struct node *next;
  char payload[40];
};

/* Points into the middle of leak_possible's block: a possible leak.  */
char *inside;

/* Drop P so no register or live stack slot keeps it.  */
#define DROP(p) __asm__ volatile ("" : "+r" (p) : : "memory")

static __attribute__ ((noinline)) void
leak_direct (void)
{
  char *p = malloc (100);
  memset (p, 'd', 100);
  DROP (p);
}

static __attribute__ ((noinline)) void
leak_list (void)
{
  struct node *head = NULL;
  for (int i = 0; i < 3; i++)
    {
      struct node *x = malloc (sizeof *x);
      memset (x, 0, sizeof *x);
      x->next = head;
      head = x;
    }
  DROP (head);
}

static __attribute__ ((noinline)) void
leak_possible (void)
{
  char *p = malloc (64);
  memset (p, 'p', 64);
  inside = p + 8;
}

/* Clear the stack below main's frame, where the leaks' pointers were.  */
static __attribute__ ((noinline)) void
scrub (void)
{
  char buf[16384];
  memset (buf, 0, sizeof buf);
  __asm__ volatile ("" : : "r" (buf) : "memory");
}

int
main (int argc, char **argv)
{
  int status = 0;
  for (int i = 1; i < argc; i++)
    {
      const char *a = argv[i];
      int all = strcmp (a, "all") == 0;
      if (all || strcmp (a, "direct") == 0)
	leak_direct ();
      if (all || strcmp (a, "list") == 0)
	leak_list ();
      if (all || strcmp (a, "possible") == 0)
	leak_possible ();
      if (all || strcmp (a, "foo") == 0)
	foo_leak ();
      if (*a >= '0' && *a <= '9')
	status = atoi (a);
    }
  scrub ();
  return status;
}
