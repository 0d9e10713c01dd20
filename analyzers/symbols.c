/* Symbolisation of allocation-stack PCs, cached per PC (many blocks share PCs).  */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

static struct dmem_frame **cache;   /* open addressing on pc */

/* The preload thread and the modules it loads.  */
static pthread_t preloader;
static int preloading;
static Dwfl_Module **preload_mods;
static size_t preload_nmods;

/* Thread body: load each module's symbol table and DWARF.  */
static void *
preload_modules (void *arg __attribute__ ((unused)))
{
  for (size_t i = 0; i < preload_nmods; i++)
    {
      Dwarf_Addr bias;
      dwfl_module_getsymtab (preload_mods[i]);
      dwfl_module_getdwarf (preload_mods[i], &bias);
    }
  return NULL;
}

/* See dmem.h.  The modules are found here, on the calling thread; the
   thread then only touches those modules.  */
void
dmem_symbols_preload (Dwfl *dwfl, const uint64_t *pcs, size_t n)
{
  Dwarf_Addr lo = 0, hi = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (pcs[i] == 0 || (lo <= pcs[i] && pcs[i] < hi))
	continue;
      Dwfl_Module *mod = dwfl_addrmodule (dwfl, pcs[i]);
      if (mod == NULL)
	continue;
      dwfl_module_info (mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
      size_t k = 0;
      while (k < preload_nmods && preload_mods[k] != mod)
	k++;
      if (k == preload_nmods)
	{
	  preload_mods = dmem_xrealloc (preload_mods, preload_nmods + 1,
					sizeof *preload_mods);
	  preload_mods[preload_nmods++] = mod;
	}
    }
  if (preload_nmods > 0
      && pthread_create (&preloader, NULL, preload_modules, NULL) == 0)
    preloading = 1;
}

/* See dmem.h.  */
void
dmem_symbols_wait (void)
{
  if (preloading)
    pthread_join (preloader, NULL);
  preloading = 0;
  free (preload_mods);
  preload_mods = NULL;
  preload_nmods = 0;
}
static size_t cache_mask, cache_count;

/* Look PC up in the target's modules: function+offset at PC, file:line at
   PC-1 (a return address points after its call).  */
static struct dmem_frame *
lookup (Dwfl *dwfl, uint64_t pc)
{
  struct dmem_frame *f = dmem_xcalloc (1, sizeof *f);
  f->pc = pc;
  Dwfl_Module *mod = dwfl_addrmodule (dwfl, pc);
  if (mod == NULL)
    return f;
  GElf_Off offset;
  GElf_Sym sym;
  const char *name = dwfl_module_addrinfo (mod, pc, &offset, &sym, NULL,
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
      f->function = name;
      f->offset = offset;
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
  return f;
}

/* See dmem.h: open addressing on PC, grown at half full.  */
const struct dmem_frame *
dmem_symbolize (Dwfl *dwfl, uint64_t pc)
{
  dmem_symbols_wait ();
  if (2 * (cache_count + 1) > cache_mask + 1)
    {
      size_t old_size = cache == NULL ? 0 : cache_mask + 1;
      struct dmem_frame **old = cache;
      cache_mask = (old_size ? 2 * old_size : 256) - 1;
      cache = dmem_xcalloc (cache_mask + 1, sizeof *cache);
      for (size_t i = 0; i < old_size; i++)
	if (old[i] != NULL)
	  {
	    size_t j = (old[i]->pc * 0x9e3779b97f4a7c15ULL >> 20) & cache_mask;
	    while (cache[j] != NULL)
	      j = (j + 1) & cache_mask;
	    cache[j] = old[i];
	  }
      free (old);
    }
  size_t j = (pc * 0x9e3779b97f4a7c15ULL >> 20) & cache_mask;
  for (; cache[j] != NULL; j = (j + 1) & cache_mask)
    if (cache[j]->pc == pc)
      return cache[j];
  cache[j] = lookup (dwfl, pc);
  cache_count++;
  return cache[j];
}

/* Forget every cached frame.  */
void
dmem_symbols_free (void)
{
  for (size_t i = 0; cache != NULL && i <= cache_mask; i++)
    free (cache[i]);
  free (cache);
  cache = NULL;
  cache_mask = cache_count = 0;
}
