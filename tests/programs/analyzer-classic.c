/* The classic libdmem driver for the analyzer tests: malloc 512, printf, free, leak 2048 bytes from main, printf; "wait" waits for gcore / --pid, a number is the exit status.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  char *p = malloc (512);
  printf ("allocated 512 bytes at %p\n", (void *) p);
  free (p);
  p = malloc (2048);
  memset (p, 7, 2048);
  printf ("leaked 2048 bytes at %p\n", (void *) p);
  /* The only pointer to the block dies here.  */
  __asm__ volatile ("" : "+r" (p) : : "memory");
  p = NULL;
  if (argc > 1 && strcmp (argv[1], "wait") == 0)
    {
      char line[16];
      /* Written past stdio's (full) buffer: the first line gcore_core sees.  */
      if (write (1, "ready\n", 6) != 6)
	return 1;
      if (fgets (line, sizeof line, stdin) == NULL)
	return 0;
    }
  return argc > 1 ? atoi (argv[1]) : 0;
}
