/* dmem mallinfo: true 64-bit mallinfo values (glibc arena state via DWARF, or the runtime's log), overflows, calls.  */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

static const char *const field_names[DMEM_MALLINFO_FIELDS] =
  { DMEM_MALLINFO_FIELD_NAMES };
enum { ARENA, ORDBLKS, SMBLKS, HBLKS, HBLKHD, USMBLKS, FSMBLKS, UORDBLKS,
       FORDBLKS, KEEPCOST };

/* Bounds on walking glibc's lists in an untrusted core.  */
#define MAX_ARENAS 4096
#define MAX_FREE_CHUNKS (16u << 20)

/* Where glibc keeps what mallinfo2 sums, from libc's DWARF.  */
struct glibc
{
  Dwfl_Module *libc;
  uint64_t main_arena, mp;                 /* addresses */
  uint64_t fastbins, nfastbins, top, bins, nbins, next, system_mem;
  uint64_t n_mmaps, n_mmaps_size, mmapped_mem;
};

struct find_sym
{
  const char *name;
  uint64_t addr;
  Dwfl_Module *mod;
};

/* dwfl_getmodules callback: find a libc module's symbol F->name.  */
static int
find_libc_sym (Dwfl_Module *mod, void **userdata __attribute__ ((unused)),
	       const char *name, Dwarf_Addr start __attribute__ ((unused)),
	       void *arg)
{
  struct find_sym *f = arg;
  if (name == NULL || strstr (name, "libc.so") == NULL)
    return DWARF_CB_OK;
  int n = dwfl_module_getsymtab (mod);
  for (int i = 1; i < n; i++)
    {
      GElf_Sym sym;
      GElf_Addr addr;
      const char *s = dwfl_module_getsym_info (mod, i, &sym, &addr, NULL,
					       NULL, NULL);
      if (s != NULL && GELF_ST_TYPE (sym.st_info) == STT_OBJECT
	  && strcmp (s, f->name) == 0)
	{
	  f->addr = addr;
	  f->mod = mod;
	  return DWARF_CB_ABORT;
	}
    }
  return DWARF_CB_OK;
}

/* Offset and byte size of member NAME of structure DIE ST.  */
static int
member (Dwarf_Die *st, const char *name, uint64_t *offset, uint64_t *size)
{
  Dwarf_Die child;
  if (dwarf_child (st, &child) != 0)
    return -1;
  do
    {
      if (dwarf_tag (&child) != DW_TAG_member
	  || dwarf_diename (&child) == NULL
	  || strcmp (dwarf_diename (&child), name) != 0)
	continue;
      Dwarf_Attribute attr;
      Dwarf_Word off;
      Dwarf_Die type;
      Dwarf_Word bytes;
      if (dwarf_formudata (dwarf_attr (&child, DW_AT_data_member_location,
				       &attr), &off) != 0
	  || dwarf_formref_die (dwarf_attr (&child, DW_AT_type, &attr),
				&type) == NULL
	  || dwarf_aggregate_size (&type, &bytes) != 0)
	return -1;
      *offset = off;
      *size = bytes;
      return 0;
    }
  while (dwarf_siblingof (&child, &child) == 0);
  return -1;
}

/* Find the definition of struct NAME among the top-level DIEs of DW.  */
static int
find_struct (Dwarf *dw, const char *name, Dwarf_Die *out)
{
  Dwarf_Off off = 0, next;
  size_t hsize;
  while (dwarf_nextcu (dw, off, &next, &hsize, NULL, NULL, NULL) == 0)
    {
      Dwarf_Die cu, die;
      if (dwarf_offdie (dw, off + hsize, &cu) != NULL
	  && dwarf_child (&cu, &die) == 0)
	do
	  if (dwarf_tag (&die) == DW_TAG_structure_type
	      && dwarf_hasattr (&die, DW_AT_byte_size)
	      && dwarf_diename (&die) != NULL
	      && strcmp (dwarf_diename (&die), name) == 0)
	    {
	      *out = die;
	      return 0;
	    }
	while (dwarf_siblingof (&die, &die) == 0);
      off = next;
    }
  return -1;
}

/* Learn glibc's malloc layout from libc's debug info.  Returns 0, or -1
   when libc or its DWARF is not found.  */
static int
glibc_layout (struct dmem_target *t, struct glibc *g)
{
  struct find_sym f = { "main_arena", 0, NULL };
  dwfl_getmodules (t->dwfl, find_libc_sym, &f, 0);
  if (f.mod == NULL)
    return -1;
  g->libc = f.mod;
  g->main_arena = f.addr;
  f = (struct find_sym) { "mp_", 0, NULL };
  dwfl_getmodules (t->dwfl, find_libc_sym, &f, 0);
  if (f.mod == NULL)
    return -1;
  g->mp = f.addr;
  Dwarf_Addr bias;
  Dwarf *dw = dwfl_module_getdwarf (g->libc, &bias);
  Dwarf_Die state, par;
  if (dw == NULL || find_struct (dw, "malloc_state", &state) != 0
      || find_struct (dw, "malloc_par", &par) != 0)
    return -1;
  uint64_t size, ptr;
  if (member (&state, "fastbinsY", &g->fastbins, &size) != 0)
    return -1;
  g->nfastbins = size / 8;
  if (member (&state, "bins", &g->bins, &size) != 0)
    return -1;
  g->nbins = size / 8;
  if (member (&state, "top", &g->top, &ptr) != 0
      || member (&state, "next", &g->next, &ptr) != 0
      || member (&state, "system_mem", &g->system_mem, &ptr) != 0
      || member (&par, "n_mmaps", &g->n_mmaps, &g->n_mmaps_size) != 0
      || member (&par, "mmapped_mem", &g->mmapped_mem, &ptr) != 0
      || g->n_mmaps_size > 8)
    return -1;
  return 0;
}

/* Read the uint64 at ADDR; 0 or -1.  */
static int
read_u64 (struct dmem_target *t, uint64_t addr, uint64_t *v)
{
  return dmem_read (t, addr, v, 8);
}

/* Size of the chunk at P (flag bits cleared).  */
static int
chunk_size (struct dmem_target *t, uint64_t p, uint64_t *size)
{
  if (read_u64 (t, p + 8, size) != 0)
    return -1;
  *size &= ~(uint64_t) 7;
  return 0;
}

/* Sum arena AV into V the way glibc's int_mallinfo does.  *BUDGET bounds
   the free chunks visited.  Returns 0 or -1 on an unreadable or endless
   list.  */
static int
sum_arena (struct dmem_target *t, const struct glibc *g, uint64_t av,
	   uint64_t v[DMEM_MALLINFO_FIELDS], uint64_t *budget)
{
  uint64_t top, avail, nblocks = 1, nfast = 0, fastavail = 0, sysmem, p;
  if (read_u64 (t, av + g->top, &top) != 0
      || chunk_size (t, top, &avail) != 0
      || read_u64 (t, av + g->system_mem, &sysmem) != 0)
    return -1;
  for (uint64_t i = 0; i < g->nfastbins; i++)
    {
      if (read_u64 (t, av + g->fastbins + 8 * i, &p) != 0)
	return -1;
      while (p != 0)
	{
	  uint64_t size, fd;
	  if ((*budget)-- == 0 || chunk_size (t, p, &size) != 0
	      || read_u64 (t, p + 16, &fd) != 0)
	    return -1;
	  nfast++;
	  fastavail += size;
	  p = ((p + 16) >> 12) ^ fd;   /* safe-linking (glibc >= 2.32) */
	}
    }
  avail += fastavail;
  /* bin_at (av, i) is a fake chunk whose fd/bk are bins[2i-2], bins[2i-1].  */
  for (uint64_t i = 1; 2 * i <= g->nbins; i++)
    {
      uint64_t b = av + g->bins + 16 * (i - 1) - 16;
      if (read_u64 (t, b + 24, &p) != 0)
	return -1;
      while (p != b)
	{
	  uint64_t size;
	  if ((*budget)-- == 0 || chunk_size (t, p, &size) != 0
	      || read_u64 (t, p + 24, &p) != 0)
	    return -1;
	  nblocks++;
	  avail += size;
	}
    }
  v[SMBLKS] += nfast;
  v[ORDBLKS] += nblocks;
  v[FORDBLKS] += avail;
  v[UORDBLKS] += sysmem - avail;
  v[ARENA] += sysmem;
  v[FSMBLKS] += fastavail;
  if (av == g->main_arena)
    {
      uint64_t n = 0, keep;
      if (dmem_read (t, g->mp + g->n_mmaps, &n, g->n_mmaps_size) != 0
	  || read_u64 (t, g->mp + g->mmapped_mem, &v[HBLKHD]) != 0
	  || chunk_size (t, top, &keep) != 0)
	return -1;
      v[HBLKS] = n;
      v[KEEPCOST] = keep;
    }
  return 0;
}

/* What glibc's mallinfo2 would return in the target.  Returns 0, or -1 if
   libc's debug info or arena state is not usable.  */
static int
glibc_mallinfo (struct dmem_target *t, uint64_t v[DMEM_MALLINFO_FIELDS])
{
  struct glibc g;
  memset (&g, 0, sizeof g);
  memset (v, 0, DMEM_MALLINFO_FIELDS * 8);
  if (glibc_layout (t, &g) != 0)
    return -1;
  uint64_t av = g.main_arena, budget = MAX_FREE_CHUNKS;
  for (int n = 0; n < MAX_ARENAS; n++)
    {
      if (sum_arena (t, &g, av, v, &budget) != 0
	  || read_u64 (t, av + g.next, &av) != 0)
	return -1;
      if (av == g.main_arena)
	return 0;
    }
  return -1;
}

/* Write FIELDS as a JSON object or text lines.  */
static void
print_fields (FILE *out, const uint64_t *v, int json)
{
  for (int i = 0; i < DMEM_MALLINFO_FIELDS; i++)
    if (json)
      fprintf (out, "%s\"%s\": %" PRIu64, i ? ", " : "", field_names[i],
	       v[i]);
    else
      fprintf (out, "  %-9s %20" PRIu64 "%s\n", field_names[i], v[i],
	       v[i] > INT_MAX ? "  > INT_MAX: overflows mallinfo()" : "");
}

/* Write the names of the fields and sums of V above INT_MAX.  */
static void
print_overflow (FILE *out, const uint64_t *v, int json)
{
  int any = 0;
  const char *sep = json ? ", " : ", ";
  for (int i = 0; i < DMEM_MALLINFO_FIELDS; i++)
    if (v[i] > INT_MAX)
      fprintf (out, json ? "%s\"%s\"" : "%s%s", any++ ? sep : "",
	       field_names[i]);
  if (v[ARENA] + v[HBLKHD] > INT_MAX)
    fprintf (out, json ? "%s\"%s\"" : "%s%s", any++ ? sep : "",
	     "arena+hblkhd");
  if (v[UORDBLKS] + v[HBLKHD] > INT_MAX)
    fprintf (out, json ? "%s\"%s\"" : "%s%s", any++ ? sep : "",
	     "uordblks+hblkhd");
  if (!json && !any)
    fputs ("none", out);
}

struct call
{
  struct dmem_mallinfo_record r;
};

/* qsort order of recorded calls: oldest first.  */
static int
call_order (const void *a, const void *b)
{
  const struct call *x = a, *y = b;
  return x->r.seq < y->r.seq ? -1 : x->r.seq > y->r.seq;
}

/* Write the frames of a call's PCS (0-terminated, at most DEPTH).  */
static void
print_call_frames (FILE *out, struct dmem_target *t, const uint64_t *pcs, int json)
{
  size_t n = 0;
  while (n < DMEM_STACK_DEPTH && pcs[n] != 0)
    n++;
  if (json)
    dmem_json_frames (out, t, pcs, n);
  else
    dmem_text_frames (out, t, pcs, n);
}

/* dmem mallinfo: true values, overflows, recorded calls.  */
int
dmem_report_mallinfo (struct dmem_target *t, struct dmem_heap *h,
		      const struct dmem_options *o)
{
  FILE *out = o->out;
  int json = o->format == DMEM_JSON;
  const uint64_t *d = h->desc;

  /* The recorded calls, oldest first.  */
  uint64_t log = d[DMEM_DESC_MALLINFO_LOG], calls = 0;
  uint64_t nslots = d[DMEM_DESC_MALLINFO_SLOTS];
  uint64_t rsize = d[DMEM_DESC_MALLINFO_RECORD_SIZE];
  struct call *c = NULL;
  size_t nc = 0;
  if (read_u64 (t, log, &calls) == 0 && nslots <= 4096
      && rsize >= sizeof (struct dmem_mallinfo_record) && rsize <= 4096)
    {
      c = dmem_xcalloc (nslots + 1, sizeof *c);
      for (uint64_t i = 0; i < nslots; i++)
	if (dmem_read (t, log + 8 + i * rsize, &c[nc].r, sizeof c[nc].r) == 0
	    && c[nc].r.seq != 0)
	  nc++;
      qsort (c, nc, sizeof *c, call_order);
    }

  uint64_t v[DMEM_MALLINFO_FIELDS];
  const char *source = "glibc";
  if (glibc_mallinfo (t, v) != 0)
    {
      /* No libc debug info: the true values of the latest logged call.  */
      source = "runtime";
      memset (v, 0, sizeof v);
      if (nc > 0)
	memcpy (v, c[nc - 1].r.values, sizeof v);
    }
  uint64_t live = 0;
  for (size_t i = 0; i < h->nblocks; i++)
    live += dmem_block_size (h, &h->blocks[i]);

  if (json)
    {
      fputs ("{\"fields\": {", out);
      print_fields (out, v, 1);
      fputs ("},\n  \"overflow\": [", out);
      print_overflow (out, v, 1);
      fprintf (out, "],\n  \"source\": \"%s\",\n  \"runtime\": {\"live_bytes\": %"
	       PRIu64 ", \"live_blocks\": %zu, \"header_bytes\": %" PRIu64
	       ", \"peak_bytes\": %" PRIu64 ", \"total_bytes\": %" PRIu64
	       "},\n  \"total_calls\": %" PRIu64 ",\n  \"calls\": [",
	       source, live, h->nblocks,
	       (uint64_t) h->nblocks * d[DMEM_DESC_HEADER_SIZE],
	       h->stats[DMEM_STAT_PEAK_BYTES], h->stats[DMEM_STAT_TOTAL_BYTES],
	       calls);
      for (size_t i = 0; i < nc; i++)
	{
	  fprintf (out, "%s\n    {\"seq\": %" PRIu64 ", \"tid\": %" PRIu64
		   ", \"values\": {", i ? "," : "", c[i].r.seq, c[i].r.tid);
	  print_fields (out, c[i].r.values, 1);
	  fputs ("}, \"saturated\": [", out);
	  int any = 0;
	  for (int k = 0; k < DMEM_MALLINFO_FIELDS; k++)
	    if (c[i].r.saturated & (1ULL << k))
	      fprintf (out, "%s\"%s\"", any++ ? ", " : "", field_names[k]);
	  fputs ("], \"frames\": ", out);
	  print_call_frames (out, t, c[i].r.pcs, 1);
	  putc ('}', out);
	}
      putc (']', out);
      dmem_json_warnings (out, t);
      fputs ("}\n", out);
    }
  else
    {
      fprintf (out, "mallinfo2 values (%s):\n",
	       source[0] == 'g' ? "from glibc's arena state"
	       : "true values of the latest recorded mallinfo() call");
      print_fields (out, v, 0);
      fputs ("overflow of int: ", out);
      print_overflow (out, v, 0);
      fprintf (out, "\nruntime: %" PRIu64 " bytes live in %zu blocks, peak %"
	       PRIu64 " bytes\n", live, h->nblocks,
	       h->stats[DMEM_STAT_PEAK_BYTES]);
      fprintf (out, "mallinfo() calls: %" PRIu64 " (the last %zu kept)\n",
	       calls, nc);
      for (size_t i = 0; i < nc; i++)
	{
	  fprintf (out, "  call %" PRIu64 " from thread %" PRIu64, c[i].r.seq,
		   c[i].r.tid);
	  if (c[i].r.saturated)
	    {
	      fputs (", saturated at INT_MAX:", out);
	      for (int k = 0; k < DMEM_MALLINFO_FIELDS; k++)
		if (c[i].r.saturated & (1ULL << k))
		  fprintf (out, " %s=%" PRIu64, field_names[k],
			   c[i].r.values[k]);
	    }
	  fputs (":\n", out);
	  print_call_frames (out, t, c[i].r.pcs, 0);
	}
    }
  free (c);
  return 0;
}
