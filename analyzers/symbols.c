/* Symbolisation of allocation-stack PCs -- function, inlined calls, file:line, module -- cached per PC (many blocks share PCs).  */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* The C++ runtime's demangler (the engine links -lstdc++), as elfutils
   uses it.  */
extern char *__cxa_demangle (const char *mangled, char *buf, size_t *len,
			     int *status);

/* Inlined calls expanded per PC at most (the DWARF is untrusted).  */
#define MAX_INLINED 32
/* Names longer than this are not given to the demangler.  */
#define MAX_DEMANGLE 32768
/* Scopes nested in a function followed at most, per PC.  */
#define MAX_NESTING 256
/* DIEs looked at at most while indexing one compile unit, and how deep in
   namespaces and classes (a cycle of DW_AT_sibling ends there).  */
#define MAX_CU_DIES (16u << 20)
#define MAX_CU_DEPTH 32

/* One PC's frames, as dmem_symbolize returns them.  */
struct entry
{
  size_t nframes;
  struct dmem_frame *frames;
};

/* A hash table from 64-bit keys (PCs, addresses of strings and DIEs) to
   non-NULL values: open addressing, grown at half full.  */
struct map
{
  uint64_t *keys;
  void **values;             /* NULL: an empty slot */
  size_t mask, count;
};

/* The path dmem shows for a module.  */
struct module_path
{
  Dwfl_Module *mod;
  const char *path;
};

/* One address range of a DIE with code: a function, an inlined call, a
   lexical block.  */
struct code_range
{
  Dwarf_Addr low, high;
  Dwarf_Die die;
};

/* The DIEs with code of one scope, by address: for a compile unit, its
   functions (in namespaces and classes too); for a function or a scope in
   it, the scopes nested directly in it.  Built on the first PC there, so
   that each PC then costs a binary search per level of nesting
   (dwarf_getscopes and dwarf_getscopes_die read the whole unit for every
   PC, and a function's siblings for every level).  */
struct scope_index
{
  struct code_range *ranges; /* sorted by low */
  size_t n, cap;
};

struct dmem_symbols
{
  struct map entries;        /* PC -> struct entry */
  struct map scopes;         /* DIE address -> struct scope_index */
  struct map names;          /* linkage name -> the name shown */
  struct module_path *paths; /* per module, made on first use */
  size_t npaths;
  char **owned;              /* strings made here: demangled names, paths */
  size_t nowned, owned_cap;
  pthread_t preloader;       /* loads debug info and symbolises meanwhile */
  int preloading;
  int stop;                  /* dmem_symbols_wait: the preloader stops */
  Dwfl_Module **mods;        /* the modules it loads */
  size_t nmods;
  uint64_t *pcs;             /* the distinct PCs it symbolises */
  size_t npcs;
};

/* T's symbol state, made on first use.  */
static struct dmem_symbols *
symbols_of (struct dmem_target *t)
{
  if (t->symbols == NULL)
    t->symbols = dmem_xcalloc (1, sizeof *t->symbols);
  return t->symbols;
}

static size_t
hash (uint64_t key, size_t mask)
{
  return (key * 0x9e3779b97f4a7c15ULL >> 20) & mask;
}

/* The value slot of KEY in M: its value, or NULL where a new one goes
   (the caller then stores a non-NULL value there at once).  */
static void **
map_slot (struct map *m, uint64_t key)
{
  if (2 * (m->count + 1) > m->mask + 1)
    {
      size_t old_size = m->values == NULL ? 0 : m->mask + 1;
      uint64_t *old_keys = m->keys;
      void **old_values = m->values;
      m->mask = (old_size ? 2 * old_size : 256) - 1;
      m->keys = dmem_xcalloc (m->mask + 1, sizeof *m->keys);
      m->values = dmem_xcalloc (m->mask + 1, sizeof *m->values);
      for (size_t i = 0; i < old_size; i++)
	if (old_values[i] != NULL)
	  {
	    size_t j = hash (old_keys[i], m->mask);
	    while (m->values[j] != NULL)
	      j = (j + 1) & m->mask;
	    m->keys[j] = old_keys[i];
	    m->values[j] = old_values[i];
	  }
      free (old_keys);
      free (old_values);
    }
  size_t j = hash (key, m->mask);
  for (; m->values[j] != NULL; j = (j + 1) & m->mask)
    if (m->keys[j] == key)
      return &m->values[j];
  m->keys[j] = key;
  m->count++;
  return &m->values[j];
}

/* Free M's tables (not its values).  */
static void
map_free (struct map *m)
{
  free (m->keys);
  free (m->values);
}

/* Keep STR (malloc'd) until dmem_symbols_free; returns it.  */
static const char *
keep (struct dmem_symbols *s, char *str)
{
  if (s->nowned == s->owned_cap)
    {
      s->owned_cap = s->owned_cap ? 2 * s->owned_cap : 64;
      s->owned = dmem_xrealloc (s->owned, s->owned_cap, sizeof *s->owned);
    }
  s->owned[s->nowned++] = str;
  return str;
}

/* NAME as a person reads it: a C++ linkage name ("_Z...") demangled, and
   a symbol version ("@@GLIBC_2.34") left out (the frame's symbol keeps
   both); NAME itself when the demangler refuses it.  */
static const char *
demangle_name (struct dmem_symbols *s, const char *name)
{
  size_t len = strcspn (name, "@");
  int mangled = name[0] == '_' && name[1] == 'Z';
  if (len >= MAX_DEMANGLE || len == 0)
    return name;
  char *base = strndup (name, len);
  if (base == NULL)
    return name;
  if (!mangled)
    return keep (s, base);
  int status = -1;
  char *d = __cxa_demangle (base, NULL, NULL, &status);
  if (d == NULL || status != 0)
    {
      free (d);
      return keep (s, base);
    }
  free (base);
  return keep (s, d);
}

/* NAME as frames show it (see demangle_name), once per string of the
   symbol tables and the DWARF.  */
static const char *
demangle (struct dmem_symbols *s, const char *name)
{
  if (name == NULL
      || ((name[0] != '_' || name[1] != 'Z') && strchr (name, '@') == NULL))
    return name;
  void **v = map_slot (&s->names, (uintptr_t) name);
  if (*v == NULL)
    *v = (void *) demangle_name (s, name);
  return *v;
}

/* Does NAME name the vDSO, as libdwfl names it in a core
   ("linux-vdso.so.1") or in a live process ("[vdso: PID]")?  */
static int
is_vdso (const char *name)
{
  return strncmp (name, "[vdso", 5) == 0
	 || strncmp (name, "linux-vdso", 10) == 0
	 || strncmp (name, "linux-gate", 10) == 0;
}

/* PATH with its symbolic links resolved, as the kernel names a mapping;
   under T's sysroot when PATH is there, the result then without it.  NULL
   when it cannot be resolved.  */
static char *
resolve (struct dmem_target *t, const char *path)
{
  size_t n = t->sysroot ? strlen (t->sysroot) : 0;
  if (n > 0 && strncmp (path, t->sysroot, n) == 0 && path[n] == '/')
    {
      char *real = realpath (path, NULL);
      if (real != NULL && strncmp (real, t->sysroot, n) == 0
	  && real[n] == '/')
	{
	  memmove (real, real + n, strlen (real + n) + 1);
	  return real;
	}
      free (real);
      return strdup (path + n);
    }
  return realpath (path, NULL);
}

/* The path of MOD as frames show it, the same for a core and for a live
   process: libdwfl names a live process's modules by the kernel's path
   (/proc/PID/maps) and a core's by that path (NT_FILE) or by soname, the
   file then found at the loader's path (the link map), whose links are
   resolved.  The vDSO is "[vdso]".  Call after MOD's ELF was looked for.  */
static const char *
module_path (struct dmem_target *t, struct dmem_symbols *s, Dwfl_Module *mod)
{
  for (size_t i = 0; i < s->npaths; i++)
    if (s->paths[i].mod == mod)
      return s->paths[i].path;
  const char *mainfile = NULL;
  const char *name = dwfl_module_info (mod, NULL, NULL, NULL, NULL, NULL,
				       &mainfile, NULL);
  const char *path = name;
  if (name != NULL && is_vdso (name))
    path = "[vdso]";
  else if ((name == NULL || name[0] != '/')
	   && mainfile != NULL && mainfile[0] == '/')
    {
      char *real = resolve (t, mainfile);
      path = real ? keep (s, real) : mainfile;
    }
  s->paths = dmem_xrealloc (s->paths, s->npaths + 1, sizeof *s->paths);
  s->paths[s->npaths++] = (struct module_path) { mod, path };
  return path;
}

/* A string attribute of DIE, through its abstract origin and
   specification.  */
static const char *
die_string (Dwarf_Die *die, unsigned int name)
{
  Dwarf_Attribute attr;
  return dwarf_formstring (dwarf_attr_integrate (die, name, &attr));
}

/* The linkage name of DIE (a subprogram or inlined call), else its
   name.  */
static const char *
die_symbol (Dwarf_Die *die)
{
  const char *name = die_string (die, DW_AT_linkage_name);
  if (name == NULL)
    name = die_string (die, DW_AT_MIPS_linkage_name);
  if (name == NULL)
    name = die_string (die, DW_AT_name);
  return name;
}

/* Where inlined call SCOPE was made: its DW_AT_call_file and
   DW_AT_call_line into *FILE and *LINE (NULL and 0 when unknown).  */
static void
call_site (Dwarf_Die *scope, const char **file, int *line)
{
  *file = NULL;
  *line = 0;
  Dwarf_Die cu;
  Dwarf_Files *files;
  size_t nfiles;
  Dwarf_Attribute attr;
  Dwarf_Word value;
  if (dwarf_diecu (scope, &cu, NULL, NULL) == NULL
      || dwarf_getsrcfiles (&cu, &files, &nfiles) != 0
      || dwarf_formudata (dwarf_attr (scope, DW_AT_call_file, &attr),
			  &value) != 0
      || value >= nfiles)
    return;
  *file = dwarf_filesrc (files, value, NULL, NULL);
  if (*file != NULL
      && dwarf_formudata (dwarf_attr (scope, DW_AT_call_line, &attr),
			  &value) == 0
      && value <= INT_MAX)
    *line = (int) value;
}

/* Add DIE's address ranges to X.  */
static void
add_ranges (struct scope_index *x, Dwarf_Die *die)
{
  Dwarf_Addr base, low, high;
  ptrdiff_t offset = 0;
  while ((offset = dwarf_ranges (die, offset, &base, &low, &high)) > 0)
    {
      if (low >= high)
	continue;
      if (x->n == x->cap)
	{
	  x->cap = x->cap ? 2 * x->cap : 8;
	  x->ranges = dmem_xrealloc (x->ranges, x->cap, sizeof *x->ranges);
	}
      x->ranges[x->n++] = (struct code_range) { low, high, *die };
    }
}

/* Index the functions with code among the children of PARENT, and in
   the namespaces and classes there, DEPTH deep; *BUDGET DIEs more at
   most.  */
static void
index_functions (struct scope_index *x, Dwarf_Die *parent, int depth,
		 size_t *budget)
{
  Dwarf_Die child;
  if (depth > MAX_CU_DEPTH || dwarf_child (parent, &child) != 0)
    return;
  do
    {
      if (*budget == 0)
	return;
      --*budget;
      switch (dwarf_tag (&child))
	{
	case DW_TAG_subprogram:
	  add_ranges (x, &child);
	  break;
	case DW_TAG_namespace:
	case DW_TAG_module:
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
	case DW_TAG_union_type:
	case DW_TAG_interface_type:
	  if (dwarf_haschildren (&child) > 0)
	    index_functions (x, &child, depth + 1, budget);
	  break;
	default:
	  break;
	}
    }
  while (dwarf_siblingof (&child, &child) == 0);
}

/* Can a DIE of TAG, nested in a function, hold code and scopes?  */
static int
is_code_scope (int tag)
{
  switch (tag)
    {
    case DW_TAG_inlined_subroutine:
    case DW_TAG_lexical_block:
    case DW_TAG_try_block:
    case DW_TAG_catch_block:
    case DW_TAG_with_stmt:
    case DW_TAG_common_block:
      return 1;
    default:
      return 0;
    }
}

/* Index the scopes with code nested directly in function or scope
   PARENT.  */
static void
index_nested (struct scope_index *x, Dwarf_Die *parent)
{
  Dwarf_Die child;
  size_t budget = MAX_CU_DIES;
  if (dwarf_child (parent, &child) != 0)
    return;
  do
    if (is_code_scope (dwarf_tag (&child)))
      add_ranges (x, &child);
  while (--budget > 0 && dwarf_siblingof (&child, &child) == 0);
}

static int
range_cmp (const void *a, const void *b)
{
  const struct code_range *x = a, *y = b;
  return x->low < y->low ? -1 : x->low > y->low;
}

/* The index of scope DIE -- of its functions when it is a compile
   unit (IS_CU), else of its nested scopes -- built on first use.  */
static struct scope_index *
index_of (struct dmem_symbols *s, Dwarf_Die *die, int is_cu)
{
  void **v = map_slot (&s->scopes, (uintptr_t) die->addr);
  if (*v != NULL)
    return *v;
  struct scope_index *x = dmem_xcalloc (1, sizeof *x);
  if (is_cu)
    {
      size_t budget = MAX_CU_DIES;
      index_functions (x, die, 0, &budget);
    }
  else
    index_nested (x, die);
  if (x->n > 1)
    qsort (x->ranges, x->n, sizeof *x->ranges, range_cmp);
  *v = x;
  return x;
}

/* The DIE of X whose code holds ADDR (a module address, bias already
   taken off), or NULL.  */
static Dwarf_Die *
range_at (struct scope_index *x, Dwarf_Addr addr)
{
  size_t lo = 0, hi = x->n;
  while (lo < hi)
    {
      size_t mid = lo + (hi - lo) / 2;
      if (x->ranges[mid].low <= addr)
	lo = mid + 1;
      else
	hi = mid;
    }
  /* The last ranges starting at or below ADDR (code of siblings does not
     overlap, but the DWARF is untrusted: look a little further).  */
  for (size_t i = lo, k = 0; i-- > 0 && k < 8; k++)
    if (addr < x->ranges[i].high)
      return &x->ranges[i].die;
  return NULL;
}

/* The calls inlined in function FN whose code holds ADDR (a module
   address), outermost first, into CHAIN (MAX_NESTING at most): down the
   scopes nested in FN that hold ADDR.  Returns how many.  */
static int
inlined_at (struct dmem_symbols *s, Dwarf_Die *fn, Dwarf_Addr addr,
	    Dwarf_Die *chain)
{
  Dwarf_Die *scope = fn;
  int n = 0;
  for (int depth = 0; depth < MAX_NESTING; depth++)
    {
      scope = range_at (index_of (s, scope, 0), addr);
      if (scope == NULL)
	break;
      if (dwarf_tag (scope) == DW_TAG_inlined_subroutine)
	chain[n++] = *scope;
    }
  return n;
}

/* Look return address PC up in T's modules: the function, the calls
   inlined there and the line, all at PC - 1, the call instruction (PC may
   already be the next function's first byte after a call that does not
   return).  */
static struct entry *
lookup (struct dmem_target *t, struct dmem_symbols *s, uint64_t pc)
{
  struct entry *e = dmem_xcalloc (1, sizeof *e);
  Dwarf_Addr addr = pc - 1;
  Dwfl_Module *mod = t->dwfl && pc != 0 ? dwfl_addrmodule (t->dwfl, addr)
			 : NULL;
  if (mod == NULL)
    {
      e->nframes = 1;
      e->frames = dmem_xcalloc (1, sizeof *e->frames);
      e->frames[0].pc = pc;
      return e;
    }

  /* The function: the symbol table's, as for code without DWARF.  */
  GElf_Off offset = 0;
  GElf_Sym sym;
  const char *symbol = dwfl_module_addrinfo (mod, addr, &offset, &sym, NULL,
					     NULL, NULL);
  const char *module = module_path (t, s, mod);
  /* The line of the innermost frame: where the code at ADDR came from.  */
  const char *file = NULL;
  int line = 0;
  Dwfl_Line *l = dwfl_module_getsrc (mod, addr);
  if (l != NULL)
    file = dwfl_lineinfo (l, NULL, &line, NULL, NULL, NULL);
  if (file == NULL)
    line = 0;

  /* The calls inlined at ADDR, innermost first, each shown where the code
     inside it is: the line for the innermost, else the call site of the
     inlined call it holds.  The function's own line is the call site of
     the outermost.  */
  Dwarf_Addr bias = 0;
  Dwarf_Die *cu = dwfl_module_addrdie (mod, addr, &bias);
  Dwarf_Die *subprogram = cu ? range_at (index_of (s, cu, 1), addr - bias)
				: NULL;
  Dwarf_Die chain[MAX_NESTING];
  int nchain = subprogram ? inlined_at (s, subprogram, addr - bias, chain)
			 : 0;
  size_t n = 0;
  struct dmem_frame *f = dmem_xcalloc ((nchain < MAX_INLINED ? nchain
					: MAX_INLINED) + 1, sizeof *f);
  for (int i = nchain; i-- > 0;)
    {
      if (n < MAX_INLINED)
	{
	  const char *linkage = die_symbol (&chain[i]);
	  f[n++] = (struct dmem_frame) {
	    .pc = pc, .function = demangle (s, linkage), .symbol = linkage,
	    .module = module, .file = file, .line = line, .inlined = 1,
	  };
	}
      call_site (&chain[i], &file, &line);
    }

  /* The function holding PC; named from its DWARF when the symbol table
     does not know it.  */
  Dwarf_Addr entry;
  if (symbol == NULL && subprogram != NULL
      && dwarf_entrypc (subprogram, &entry) == 0 && entry + bias <= addr)
    {
      symbol = die_symbol (subprogram);
      offset = addr - (entry + bias);
    }
  f[n] = (struct dmem_frame) {
    .pc = pc, .module = module, .file = file, .line = line,
  };
  if (symbol != NULL)
    {
      f[n].function = demangle (s, symbol);
      f[n].symbol = symbol;
      f[n].offset = offset + 1;
    }
  if (dmem_module_mismatched (t, mod))
    for (size_t k = 0; k <= n; k++)
      f[k].mismatched = 1;
  e->frames = f;
  e->nframes = n + 1;
  return e;
}

/* PC's cached entry, looked up when new.  */
static struct entry *
cached (struct dmem_target *t, struct dmem_symbols *s, uint64_t pc)
{
  void **e = map_slot (&s->entries, pc);
  if (*e == NULL)
    *e = lookup (t, s, pc);
  return *e;
}

/* What the preloader works on: the target (its Dwfl and T->symbols are
   the thread's alone until dmem_symbols_wait).  */
static void *
preload_modules (void *arg)
{
  struct dmem_target *t = arg;
  struct dmem_symbols *s = t->symbols;
  for (size_t i = 0; i < s->nmods; i++)
    {
      Dwarf_Addr bias;
      dwfl_module_getsymtab (s->mods[i]);
      dwfl_module_getdwarf (s->mods[i], &bias);
    }
  /* Then the PCs themselves, until the caller needs the Dwfl back.  */
  for (size_t i = 0; i < s->npcs; i++)
    {
      if (__atomic_load_n (&s->stop, __ATOMIC_ACQUIRE))
	break;
      cached (t, s, s->pcs[i]);
    }
  return NULL;
}

/* See dmem.h.  The modules and the distinct PCs are found here, on the
   calling thread; the thread then loads those modules' symbol tables and
   DWARF, and symbolises the PCs into the cache until dmem_symbols_wait
   stops it.  */
void
dmem_symbols_preload (struct dmem_target *t, const uint64_t *pcs, size_t n)
{
  struct dmem_symbols *s = symbols_of (t);
  dmem_symbols_wait (t);
  if (t->dwfl == NULL)
    return;
  Dwarf_Addr lo = 0, hi = 0;
  uint64_t last = 0;
  for (size_t i = 0; i < n; i++)
    {
      if (pcs[i] == 0 || pcs[i] == last)
	continue;
      last = pcs[i];
      if (s->pcs == NULL)
	s->pcs = dmem_xmalloc (n * sizeof *s->pcs);
      s->pcs[s->npcs++] = pcs[i];
      if (lo < pcs[i] && pcs[i] <= hi)
	continue;
      Dwfl_Module *mod = dwfl_addrmodule (t->dwfl, pcs[i] - 1);
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
  s->stop = 0;
  if (s->npcs > 0
      && pthread_create (&s->preloader, NULL, preload_modules, t) == 0)
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
    {
      __atomic_store_n (&s->stop, 1, __ATOMIC_RELEASE);
      pthread_join (s->preloader, NULL);
    }
  s->preloading = 0;
  free (s->mods);
  s->mods = NULL;
  s->nmods = 0;
  free (s->pcs);
  s->pcs = NULL;
  s->npcs = 0;
}

/* See dmem.h.  */
size_t
dmem_symbolize (struct dmem_target *t, uint64_t pc,
		const struct dmem_frame **frames)
{
  struct dmem_symbols *s = symbols_of (t);
  dmem_symbols_wait (t);
  struct entry *e = cached (t, s, pc);
  *frames = e->frames;
  return e->nframes;
}

/* See dmem.h: forget every cached frame and string.  */
void
dmem_symbols_free (struct dmem_target *t)
{
  struct dmem_symbols *s = t->symbols;
  if (s == NULL)
    return;
  dmem_symbols_wait (t);
  for (size_t i = 0; s->entries.values != NULL && i <= s->entries.mask; i++)
    if (s->entries.values[i] != NULL)
      {
	struct entry *e = s->entries.values[i];
	free (e->frames);
	free (e);
      }
  map_free (&s->entries);
  for (size_t i = 0; s->scopes.values != NULL && i <= s->scopes.mask; i++)
    if (s->scopes.values[i] != NULL)
      {
	struct scope_index *x = s->scopes.values[i];
	free (x->ranges);
	free (x);
      }
  map_free (&s->scopes);
  map_free (&s->names);
  for (size_t i = 0; i < s->nowned; i++)
    free (s->owned[i]);
  free (s->owned);
  free (s->paths);
  free (s);
  t->symbols = NULL;
}
