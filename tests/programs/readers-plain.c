/* Reader test program run without the runtime: it aborts, so the kernel
   dumps a core in which the readers must find no dmem heap.  */
#include <stdlib.h>

int
main (void)
{
  abort ();
}
