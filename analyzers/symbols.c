/* Symbolisation of allocation-stack PCs, cached per PC (many blocks share PCs).  */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* One PC's frames, as dmem_symbolize returns them.  */
struct entry
{
  uint64_t pc;
  size_t nframes;
  struct dmem_frame *frames;
};

struct dmem_symbols
{
  struct entry **cache;      /* open addressing on pc */
  size_t mask, count;
  pthread_t preloader;       /* loads modules' debug info meanwhile */
  int preloading;
  Dwfl_Module **mods;        /* the modules it loads */
  size_t nmods;
};

/* T's symbol state, made on first use.  */
static struct dmem_symbols *
symbols_of (struct dmem_target *t)
{
  if (t->symbols == NULL)
    t->symbols = dmem_xcalloc (1, sizeof *t->symbols);
  return t->symbols;
}

/* Thread body: load each module's symbol table and DWARF.  */
static void *
preload_modules (void *arg)
{
  struct dmem_symbols *s = arg;
  for (size_t i = 0; i < s->nmods; i++)
    {
      Dwarf_Addr bias;
      dwfl_module_getsymtab (s->mods[i]);
      dwfl_module_getdwarf (s->mods[i], &bias);
    }
  return NULL;
}

/* See dmem.h.  The modules are found here, on the calling thread; the
   thread then only touches those modules.  */
void
dmem_symbols_preload (struct dmem_target *t, const uint64_t *pcs, size_t n)
{
  struct dmem_symbols *s = symbols_of (t);
  dmem_symbols_wait (t);
  Dwarf_Addr lo = 0, hi = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (pcs[i] == 0 || (lo <= pcs[i] && pcs[i] < hi))
	continue;
      Dwfl_Module *mod = dwfl_addrmodule (t->dwfl, pcs[i]);
      if (mod == NULL)
	continue;
      dwfl_module_info (mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
      size_t k = 0;
      while (k < s->nmods && s->mods[k] != mod)
	k++;
      if (k == s->nmods)
	{
	  s->mods = dmem_xrealloc (s->mods, s->nmods + 1, sizeof *s->mods);
	  s->mods[s->nmods++] = mod;
	}
    }
  if (s->nmods > 0
      && pthread_create (&s->preloader, NULL, preload_modules, s) == 0)
    s->preloading = 1;
}

/* See dmem.h.  */
void
dmem_symbols_wait (struct dmem_target *t)
{
  struct dmem_symbols *s = t->symbols;
  if (s == NULL)
    return;
  if (s->preloading)
    pthread_join (s->preloader, NULL);
  s->preloading = 0;
  free (s->mods);
  s->mods = NULL;
  s->nmods = 0;
}

/* Look return address PC up in T's modules: the function and the line of
   PC - 1, the call instruction (PC may already be the next function's
   first byte after a call that does not return).  */
static struct entry *
lookup (struct dmem_target *t, uint64_t pc)
{
  struct entry *e = dmem_xcalloc (1, sizeof *e);
  struct dmem_frame *f = dmem_xcalloc (1, sizeof *f);
  e->pc = pc;
  e->frames = f;
  e->nframes = 1;
  f->pc = pc;
  Dwfl_Module *mod = t->dwfl ? dwfl_addrmodule (t->dwfl, pc - 1) : NULL;
  if (mod == NULL)
    return e;
  GElf_Off offset;
  GElf_Sym sym;
  const char *name = dwfl_module_addrinfo (mod, pc - 1, &offset, &sym, NULL,
					   NULL, NULL);
  /* A module found in the core's memory is named by its soname; the file
     it was matched with gives its path.  */
  const char *mainfile = NULL;
  f->module = dwfl_module_info (mod, NULL, NULL, NULL, NULL, NULL,
				&mainfile, NULL);
  if (f->module != NULL && f->module[0] != '/' && mainfile != NULL)
    f->module = mainfile;
  if (name != NULL)
    {
      f->function = f->symbol = name;
      f->offset = offset + 1;
    }
  Dwfl_Line *line = dwfl_module_getsrc (mod, pc - 1);
  int lineno = 0;
  const char *file = line == NULL ? NULL
		     : dwfl_lineinfo (line, NULL, &lineno, NULL, NULL, NULL);
  if (file != NULL)
    {
      f->file = file;
      f->line = lineno;
    }
  return e;
}

/* See dmem.h: open addressing on PC, grown at half full.  */
size_t
dmem_symbolize (struct dmem_target *t, uint64_t pc,
		const struct dmem_frame **frames)
{
  struct dmem_symbols *s = symbols_of (t);
  dmem_symbols_wait (t);
  if (2 * (s->count + 1) > s->mask + 1)
    {
      size_t old_size = s->cache == NULL ? 0 : s->mask + 1;
      struct entry **old = s->cache;
      s->mask = (old_size ? 2 * old_size : 256) - 1;
      s->cache = dmem_xcalloc (s->mask + 1, sizeof *s->cache);
      for (size_t i = 0; i < old_size; i++)
	if (old[i] != NULL)
	  {
	    size_t j = (old[i]->pc * 0x9e3779b97f4a7c15ULL >> 20) & s->mask;
	    while (s->cache[j] != NULL)
	      j = (j + 1) & s->mask;
	    s->cache[j] = old[i];
	  }
      free (old);
    }
  size_t j = (pc * 0x9e3779b97f4a7c15ULL >> 20) & s->mask;
  for (; s->cache[j] != NULL; j = (j + 1) & s->mask)
    if (s->cache[j]->pc == pc)
      break;
  if (s->cache[j] == NULL)
    {
      s->cache[j] = lookup (t, pc);
      s->count++;
    }
  *frames = s->cache[j]->frames;
  return s->cache[j]->nframes;
}

/* See dmem.h: forget every cached frame.  */
void
dmem_symbols_free (struct dmem_target *t)
{
  struct dmem_symbols *s = t->symbols;
  if (s == NULL)
    return;
  dmem_symbols_wait (t);
  for (size_t i = 0; s->cache != NULL && i <= s->mask; i++)
    if (s->cache[i] != NULL)
      {
	free (s->cache[i]->frames);
	free (s->cache[i]);
      }
  free (s->cache);
  free (s);
  t->symbols = NULL;
}
