/* mallinfo() past 2 GiB.  Without the runtime glibc's int fields wrap
   negative; with it they saturate, and the call is logged with its true
   values.  Usage: mallinfo expect-wrap | expect-saturate  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmem/format.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

int
main (int argc, char **argv)
{
  if (argc != 2)
    return 2;
  /* 3 GiB in mmapped chunks: counted in hblkhd, never touched.  */
  void *chunks[3];
  for (int i = 0; i < 3; i++)
    if ((chunks[i] = malloc (1u << 30)) == NULL)
      {
        perror ("malloc");
        return 2;
      }
  struct mallinfo2 m2 = mallinfo2 ();
  struct mallinfo m = mallinfo ();
  printf ("mallinfo2.hblkhd=%zu mallinfo.hblkhd=%d arena+hblkhd=%d uordblks+hblkhd=%d\n",
          m2.hblkhd, m.hblkhd, m.arena + m.hblkhd, m.uordblks + m.hblkhd);
  int ok;
  if (strcmp (argv[1], "expect-wrap") == 0)
    ok = m2.hblkhd > INT_MAX && m.hblkhd != (long long) m2.hblkhd;
  else
    {
      ok = m2.hblkhd > INT_MAX && m.hblkhd > 0 && m.arena + m.hblkhd >= 0
           && m.uordblks + m.hblkhd >= 0 && m.arena >= 0 && m.uordblks >= 0;
      /* The call is logged with its true values.  */
      const uint64_t *d = dlsym (RTLD_DEFAULT, DMEM_DESCRIPTOR_SYMBOL);
      const struct dmem_mallinfo_log *log
        = d ? (const void *) (uintptr_t) d[DMEM_DESC_MALLINFO_LOG] : NULL;
      const struct dmem_mallinfo_record *r = log ? &log->slots[0] : NULL;
      ok = ok && log && log->calls == 1 && r->seq == 1 && r->values[4] == m2.hblkhd
           && (r->saturated & (1u << 4)) && r->pcs[0] != 0;
      printf ("logged: %s\n", ok ? "yes" : "no");
    }
  for (int i = 0; i < 3; i++)
    free (chunks[i]);
  return !ok;
}
