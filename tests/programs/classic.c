/* The classic libdmem driver: one block freed, one 2048-byte block leaked.  */
#include <stdio.h>
#include <stdlib.h>

int
main (void)
{
  char *p = malloc (512);
  printf ("allocated 512 bytes at %p\n", (void *) p);
  free (p);
  p = malloc (2048);
  printf ("leaked 2048 bytes at %p\n", (void *) p);
  p = NULL;
  return 0;
}
