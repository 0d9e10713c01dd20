/* mallinfo() that saturates instead of wrapping, and the log of its calls.

   glibc's mallinfo() returns int fields that wrap negative past 2 GiB; callers
   that check them (Chromium's memory dump provider) then crash.  We return the
   true values of mallinfo2() clamped to INT_MAX, with hblkhd clamped further
   so the sums callers compute (arena+hblkhd, uordblks+hblkhd) stay within
   INT_MAX too, and log each call where a core keeps it.  */
#include <limits.h>
#include <malloc.h>
#include <string.h>

#include "heap.h"
#include "unwind.h"

/* Values of struct mallinfo2 in DMEM_MALLINFO_FIELD_NAMES order.  */
static void
fields_of (const struct mallinfo2 *m, uint64_t v[DMEM_MALLINFO_FIELDS])
{
  v[0] = m->arena; v[1] = m->ordblks; v[2] = m->smblks; v[3] = m->hblks;
  v[4] = m->hblkhd; v[5] = m->usmblks; v[6] = m->fsmblks; v[7] = m->uordblks;
  v[8] = m->fordblks; v[9] = m->keepcost;
}

enum { ARENA = 0, HBLKHD = 4, UORDBLKS = 7 };

/* Clamp V into FIT so each field and the sums callers compute fit in an int.
   Returns the mask of fields changed.  */
static uint64_t
saturate (const uint64_t v[DMEM_MALLINFO_FIELDS], int fit[DMEM_MALLINFO_FIELDS])
{
  uint64_t mask = 0;
  for (int i = 0; i < DMEM_MALLINFO_FIELDS; i++)
    {
      uint64_t x = v[i] > INT_MAX ? INT_MAX : v[i];
      if (i == HBLKHD)
        {
          uint64_t arena = v[ARENA] > INT_MAX ? INT_MAX : v[ARENA];
          uint64_t used = v[UORDBLKS] > INT_MAX ? INT_MAX : v[UORDBLKS];
          uint64_t room = INT_MAX - (arena > used ? arena : used);
          if (x > room)
            x = room;
        }
      fit[i] = (int) x;
      if (x != v[i])
        mask |= 1ull << i;
    }
  return mask;
}

__attribute__ ((visibility ("default"))) struct mallinfo
mallinfo (void)
{
  struct mallinfo2 m2 = dmem__next_mallinfo2 ();
  uint64_t v[DMEM_MALLINFO_FIELDS];
  int fit[DMEM_MALLINFO_FIELDS];
  fields_of (&m2, v);
  uint64_t mask = saturate (v, fit);

  struct dmem_mallinfo_log *log = &dmem__state.mallinfo;
  uint64_t seq = __atomic_add_fetch (&log->calls, 1, __ATOMIC_RELAXED);
  struct dmem_mallinfo_record *r = &log->slots[(seq - 1) % DMEM_MALLINFO_SLOTS];
  __atomic_store_n (&r->seq, 0, __ATOMIC_RELAXED);
  r->tid = (uint64_t) dmem__tid ();
  memcpy (r->values, v, sizeof r->values);
  r->saturated = mask;
  dmem__capture_stack (r->pcs, DMEM_STACK_DEPTH);
  __atomic_store_n (&r->seq, seq, __ATOMIC_RELEASE);

  struct mallinfo m;
  m.arena = fit[0]; m.ordblks = fit[1]; m.smblks = fit[2]; m.hblks = fit[3];
  m.hblkhd = fit[4]; m.usmblks = fit[5]; m.fsmblks = fit[6];
  m.uordblks = fit[7]; m.fordblks = fit[8]; m.keepcost = fit[9];
  return m;
}
