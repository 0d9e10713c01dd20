/* A process tree for dmem run --follow-children.
   analyzer-children [STATUS]: the parent forks two children, then leaks
     1111 bytes (parent_leak): the first leaks 2222 bytes (first_child_leak) and
     returns from main with 3, the second leaks 3333 (second_child_leak) and
     ends in _exit (4); the parent waits for both, checks their statuses and
     exits with STATUS.
   analyzer-children child-only [STATUS]: only the first child leaks.
   analyzer-children exec PROG ARGS...: leaks 4444 bytes, then execs PROG.
   analyzer-children wait: a child that reads stdin to its end, then exits
     (leaking 2222 bytes); the parent waits for it and prints "reaped: ok"
     when it exited 0.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A block whose only pointer dies on return.  */
static __attribute__ ((noinline)) void
leak (size_t size)
{
  char *p = malloc (size);
  memset (p, 1, size);
  __asm__ volatile ("" : "+r" (p) : : "memory");
}

/* Each its own frame in the stacks: the empty asm after the call keeps it
   from being a tail call.  */
#define LEAKER(name, size) \
  static __attribute__ ((noinline)) void name (void) \
  { leak (size); __asm__ volatile ("" ::: "memory"); }
LEAKER (parent_leak, 1111)
LEAKER (first_child_leak, 2222)
LEAKER (second_child_leak, 3333)
LEAKER (exec_leak, 4444)

/* Fork a child that runs FN (if any) and ends with STATUS: returned from
   main (exit) or through _exit.  */
static pid_t
child (void (*fn) (void), int status, int by__exit, int read_stdin)
{
  fflush (stdout);
  pid_t pid = fork ();
  if (pid != 0)
    return pid;
  if (fn != NULL)
    fn ();
  if (read_stdin)
    while (getchar () != EOF)
      ;
  if (by__exit)
    _exit (status);
  exit (status);
}

static int
reap (pid_t pid, int expected)
{
  int status;
  if (waitpid (pid, &status, 0) != pid || !WIFEXITED (status)
      || WEXITSTATUS (status) != expected)
    {
      fprintf (stderr, "child %d: status %#x, expected exit %d\n", (int) pid,
	       status, expected);
      return 1;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp (mode, "exec") == 0 && argc > 2)
    {
      exec_leak ();
      execvp (argv[2], argv + 2);
      perror (argv[2]);
      return 127;
    }
  if (strcmp (mode, "wait") == 0)
    {
      int bad = reap (child (first_child_leak, 0, 0, 1), 0);
      printf ("reaped: %s\n", bad ? "bad" : "ok");
      return bad;
    }
  if (strcmp (mode, "child-only") == 0)
    {
      int bad = reap (child (first_child_leak, 3, 0, 0), 3);
      return bad ? 1 : argc > 2 ? atoi (argv[2]) : 0;
    }
  pid_t one = child (first_child_leak, 3, 0, 0);
  pid_t two = child (second_child_leak, 4, 1, 0);
  parent_leak ();
  int bad = reap (one, 3) + reap (two, 4);
  printf ("parent %d, children %d %d\n", (int) getpid (), (int) one, (int) two);
  return bad ? 1 : argc > 1 ? atoi (argv[1]) : 0;
}
