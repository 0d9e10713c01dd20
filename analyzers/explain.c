/* dmem explain: what an address is, and the shortest chain of references that keeps its block alive.

   What ADDR is, in this order: inside a live block's user part; in the
   header just below one (DMEM_DESC_HEADER_SIZE bytes); in the guard bytes
   after one; in a block the runtime's quarantine holds (freed, poisoned);
   on a thread's stack (the mapping holding its sp: which frame, found by
   unwinding the thread with libdwfl over the target's bytes); in a loaded
   module (a global, or code: module:symbol+offset from its symbol table,
   else its section); a thread's TLS (the mapping holding its fs_base, or
   what lies above the outermost frame of a stack mapping that holds one);
   an anonymous mapping that holds no block (a program's pool); another
   file mapping; heap memory no live block holds ("free"); unmapped.

   For a block (or its header), why it is alive: one breadth-first search
   from every root of reachability over dmem_refs (a parent per block,
   uint32), first through start pointers only, then -- when that does not
   reach it -- on from the interior pointers met on the way: the first
   finds the shortest chain when the block is reachable, the second one
   when it is only possibly reachable; each stops when the block is
   reached.  When neither reaches it, it is a leak: dmem_reach says
   whether direct or indirect, and for an indirect one a search from
   every direct leak over the leaked blocks finds the nearest direct leak
   and its chain.

   Text: a line saying what ADDR is (for a block: ADDR's offset in it, its
   size, address and thread, then its allocation stack as "    #K ..."
   lines); then for a block an empty line, its status ("reachable: N
   references from a root:", "possibly reachable: ...", "a direct leak:
   ...", "an indirect leak: ... the direct leak at 0x... does, through N
   references:") and the chain, an element a line: "  root: WHERE" (a
   register, a stack word and its frame, a global, a TLS, ...), then for
   each block "  points to the start of" or "  points N bytes into" "the
   S-byte block at A (thread T), allocated at:" and its stack (the last
   block, ADDR's, without: it is above), with "  whose word at offset K
   (0x...)" before each link out of a block, and last "  which holds ADDR
   at offset K" (or "whose header holds ...").  Of a chain of more than
   CHAIN_SHOWN blocks, the first and last CHAIN_SHOWN / 2 are shown, with
   "  ... N more blocks ..." between.

   JSON (--format=json), one object:
     "address": ADDR as "0x..."
     "what": "block" | "header" | "guard" | "freed" | "stack" | "global" |
       "code" | "tls" | "anonymous" | "mapping" | "free" | "unmapped"
     "location": for what is not a block (else null), a location object
     "block": for block, header, guard and freed (else null):
       {"address", "size", "tid", "offset" (ADDR - address: negative in
       the header, >= size in the guard), "frames" (allocation stack),
       and for freed "free_frames"}
     "status": for block, header and guard (else null): "reachable" (a
       chain of start pointers from a root), "possible" (only chains with
       an interior pointer), "leak" (a direct leak), "indirect"
     "chain": the chain, root first, ADDR's block last: for reachable and
       possible, a root element then block elements; for indirect, block
       elements from the direct leak (its element has no link: from_* and
       pointer are null); [] for a direct leak and for what is no block;
       a long chain has {"elided": N} for the N blocks left out
     "leaked_from": for indirect, the direct leak's address, else null
     "warnings": [...]
   A root element is a location object with "root" for its kind:
     "register" {"tid", "register": "rax"...}, "stack" {"tid", "address",
     "position": "frame" | "below-sp" | "beyond-frames", "frame": {"index",
     "pc", "sp", "frames"} or null}, "global" and "code" {"address",
     "module", "symbol" (or null), "offset" (from the symbol, else the
     section, else the module's start), "section" (or null)}, "tls"
     {"tid", "address", "mapping"}, "anonymous", "mapping" and "free"
     {"address", "mapping": {"start", "end"}}, "loader" (a block the
     dynamic linker allocated, held as reachable), "unmapped"
     {"address"}; and "in_block": null, or the block (with "offset") the
     root word lies in (a mapping that is a root all through, such as the
     one holding a thread's TLS, may hold a block: such words are taken
     last, so a chain shows the block's own reason to be alive when it
     has one).  A location object has "kind" for its kind instead of
     "root", no "in_block"; a global's also "value" (the word there) and
     "points_to" (the block it points into, or null).
   A block element: {"block": {"address", "size", "tid", "frames"},
     "from_address" (the word holding the pointer, null for a register
     or the loader), "from_offset" (its offset in the previous block,
     null after a root), "pointer" (its value), "points_to": "start" |
     "inside", "pointer_offset" (pointer - block address)}.  */
#include <gelf.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* ---- unwinding the target's threads with libdwfl ---- */

/* Frames unwound per thread at most.  */
#define MAX_FRAMES 256

/* One unwound frame: its PC, its stack pointer, and whether PC is the
   instruction itself (the innermost frame, a signal frame) rather than
   a return address.  */
struct uframe
{
  uint64_t pc, sp;
  int activation;
};

struct unwound
{
  int done;
  size_t n;
  struct uframe *f;
};

/* DWARF register K of x86-64 (rax, rdx, rcx, rbx, rsi, rdi, rbp, rsp,
   r8-r15, the return address) in user_regs_struct order.  */
static const int dwarf_to_user[17] = { 10, 12, 11, 5, 13, 14, 4, 19, 9, 8,
				       7, 6, 3, 2, 1, 0, 16 };
#define DWARF_SP 7
#define USER_RIP 16

/* The thread after *THREAD_ARGP (NULL: the first); each thread's argument
   is its struct dmem_thread.  */
static pid_t
next_thread (Dwfl *dwfl __attribute__ ((unused)), void *arg,
	     void **thread_argp)
{
  struct dmem_target *t = arg;
  const struct dmem_thread *th = *thread_argp;
  size_t i = th == NULL ? 0 : (size_t) (th - t->threads) + 1;
  if (i >= t->nthreads)
    return 0;
  *thread_argp = &t->threads[i];
  return t->threads[i].tid;
}

static bool
get_thread (Dwfl *dwfl __attribute__ ((unused)), pid_t tid, void *arg,
	    void **thread_argp)
{
  struct dmem_target *t = arg;
  for (size_t i = 0; i < t->nthreads; i++)
    if ((pid_t) t->threads[i].tid == tid)
      {
	*thread_argp = &t->threads[i];
	return true;
      }
  return false;
}

static bool
memory_read (Dwfl *dwfl __attribute__ ((unused)), Dwarf_Addr addr,
	     Dwarf_Word *result, void *arg)
{
  return dmem_read (arg, addr, result, sizeof *result) == 0;
}

/* The saved registers in DWARF order.  */
static bool
set_initial_registers (Dwfl_Thread *thread, void *arg)
{
  const struct dmem_thread *th = arg;
  Dwarf_Word regs[17];
  for (int k = 0; k < 17; k++)
    regs[k] = th->regs[dwarf_to_user[k]];
  if (!dwfl_thread_state_registers (thread, 0, 17, regs))
    return false;
  dwfl_thread_state_register_pc (thread, th->regs[USER_RIP]);
  return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
  .next_thread = next_thread,
  .get_thread = get_thread,
  .memory_read = memory_read,
  .set_initial_registers = set_initial_registers,
};

/* dwfl_getthread_frames callback: keep each frame's PC and SP, while the
   stack pointers grow.  */
static int
keep_frame (Dwfl_Frame *state, void *arg)
{
  struct unwound *u = arg;
  Dwarf_Addr pc;
  bool activation;
  Dwarf_Word sp;
  if (!dwfl_frame_pc (state, &pc, &activation)
      || dwfl_frame_reg (state, DWARF_SP, &sp) != 0
      || (u->n > 0 && sp <= u->f[u->n - 1].sp))
    return DWARF_CB_ABORT;
  u->f[u->n++] = (struct uframe) { pc, sp, activation };
  return u->n < MAX_FRAMES ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* Unwind thread I of T (once) into U: at least its registers' frame.  */
static void
unwind (struct dmem_target *t, size_t i, struct unwound *u)
{
  if (u->done)
    return;
  u->done = 1;
  u->f = dmem_xmalloc (MAX_FRAMES * sizeof *u->f);
  dmem_symbols_wait (t);
  /* The state is attached once per Dwfl, with T as its argument.  */
  if (t->dwfl != NULL && dwfl_pid (t->dwfl) <= 0)
    dwfl_attach_state (t->dwfl, NULL,
		       t->pid ? t->pid : (pid_t) t->threads[0].tid,
		       &thread_callbacks, t);
  if (t->dwfl != NULL && dwfl_pid (t->dwfl) > 0)
    dwfl_getthread_frames (t->dwfl, t->threads[i].tid, keep_frame, u);
  if (u->n == 0)
    u->f[u->n++] = (struct uframe) { t->threads[i].regs[USER_RIP],
				     t->threads[i].regs[DMEM_REG_RSP], 1 };
}

/* ---- what an address is ---- */

enum kind
{
  K_BLOCK, K_HEADER, K_GUARD, K_FREED, K_STACK, K_GLOBAL, K_CODE, K_TLS,
  K_ANONYMOUS, K_MAPPING, K_FREE, K_UNMAPPED, K_REGISTER, K_LOADER
};

static const char *const kind_names[] = {
  "block", "header", "guard", "freed", "stack", "global", "code", "tls",
  "anonymous", "mapping", "free", "unmapped", "register", "loader"
};

/* Where a stack word is.  */
enum { IN_FRAME, BELOW_SP, BEYOND_FRAMES };
static const char *const position_names[] = { "frame", "below-sp",
					      "beyond-frames" };

/* What an address (or a root word) is.  */
struct location
{
  int kind;
  uint64_t address;
  size_t thread;             /* register, stack, tls: t->threads index */
  int reg;                   /* register: user_regs_struct index */
  int position;              /* stack */
  int frame;                 /* stack, IN_FRAME: the unwound frame */
  const char *module;        /* global, code: path */
  const char *symbol;        /* or NULL */
  const char *section;       /* or NULL */
  uint64_t offset;           /* from the symbol, section or module */
  uint64_t start, end;       /* tls, anonymous, mapping, free: mapping */
  size_t in_block;           /* a root word inside this block, or SIZE_MAX */
};

static const char *const reg_names[DMEM_NREGS] = {
  "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8",
  "rax", "rcx", "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags",
  "rsp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs"
};

struct explain
{
  struct dmem_target *t;
  struct dmem_heap *h;
  struct dmem_refs *g;
  FILE *out;
  int json;
  uint64_t hs;               /* header size */
  struct unwound *threads;   /* per thread, unwound on first use */
  uint64_t *buf;             /* pick_link's words (LINK_WORDS) */
};

/* The last component of PATH.  */
static const char *
base_name (const char *path)
{
  const char *s = path ? strrchr (path, '/') : NULL;
  return s ? s + 1 : path ? path : "?";
}

/* The first block whose user part starts above ADDR.  */
static size_t
block_above (const struct dmem_heap *h, uint64_t addr)
{
  return addr == UINT64_MAX ? h->nblocks : dmem_block_from (h, addr + 1);
}

/* Does region R hold a block's user part?  */
static int
holds_block (const struct dmem_heap *h, const struct dmem_region *r)
{
  size_t b = block_above (h, r->start - (r->start > 0));
  return b < h->nblocks && h->blocks[b].user < r->end;
}

/* Fill L for ADDR in module MOD: the symbol holding it (a symbol without
   a size only at its own address), else its section, else its offset in
   the module.  Returns 0, or -1 when ADDR is in no section and not
   MAPPED (a gap in the module's range).  */
static int
locate_in_module (struct location *l, Dwfl_Module *mod, uint64_t addr,
		  int mapped)
{
  const char *mainfile = NULL;
  Dwarf_Addr low;
  const char *name = dwfl_module_info (mod, NULL, &low, NULL, NULL, NULL,
				       &mainfile, NULL);
  l->module = name != NULL && name[0] == '/' ? name
	      : mainfile != NULL ? mainfile : name;
  l->kind = K_GLOBAL;
  GElf_Off off = 0;
  GElf_Sym sym;
  l->symbol = dwfl_module_addrinfo (mod, addr, &off, &sym, NULL, NULL, NULL);
  if (l->symbol != NULL && sym.st_size == 0 && off != 0)
    l->symbol = NULL;
  if (l->symbol != NULL && GELF_ST_TYPE (sym.st_info) == STT_FUNC)
    l->kind = K_CODE;
  l->offset = off;
  Dwarf_Addr in = addr, bias;
  Elf_Scn *scn = dwfl_module_address_section (mod, &in, &bias);
  GElf_Shdr shdr;
  Elf *elf = dwfl_module_getelf (mod, &bias);
  size_t shstrndx;
  if (scn != NULL && elf != NULL && gelf_getshdr (scn, &shdr) != NULL
      && elf_getshdrstrndx (elf, &shstrndx) == 0)
    {
      l->section = elf_strptr (elf, shstrndx, shdr.sh_name);
      if (l->symbol == NULL && (shdr.sh_flags & SHF_EXECINSTR))
	l->kind = K_CODE;
      if (l->symbol == NULL)
	l->offset = in;
      return 0;
    }
  if (!mapped)
    return -1;
  if (l->symbol == NULL)
    l->offset = addr - low;
  return 0;
}

/* What ADDR is, when it is no block's user part, header or guard.  */
static void
locate (struct explain *x, uint64_t addr, struct location *l)
{
  struct dmem_target *t = x->t;
  memset (l, 0, sizeof *l);
  l->address = addr;
  l->frame = -1;
  struct dmem_region *r = dmem_region_at (t, addr);
  /* A thread's stack: the mapping holding its sp.  */
  for (size_t i = 0; r != NULL && i < t->nthreads; i++)
    {
      uint64_t sp = t->threads[i].regs[DMEM_REG_RSP];
      if (sp < r->start || sp >= r->end)
	continue;
      l->kind = K_STACK;
      l->thread = i;
      l->start = r->start;
      l->end = r->end;
      struct unwound *u = &x->threads[i];
      unwind (t, i, u);
      if (addr + 128 < u->f[0].sp)
	l->position = BELOW_SP;
      else if (addr >= u->f[u->n - 1].sp)
	{
	  l->position = BEYOND_FRAMES;
	  /* A thread's TLS and control block sit above its stack.  */
	  for (size_t k = 0; k < t->nthreads; k++)
	    {
	      uint64_t fs = t->threads[k].regs[DMEM_REG_FS_BASE];
	      if (fs >= r->start && fs < r->end)
		{
		  l->kind = K_TLS;
		  l->thread = k;
		  break;
		}
	    }
	}
      else
	{
	  l->position = IN_FRAME;
	  size_t k = 0;
	  while (k + 1 < u->n && u->f[k + 1].sp <= addr)
	    k++;
	  l->frame = k;
	}
      return;
    }
  dmem_symbols_wait (t);
  Dwfl_Module *mod = t->dwfl ? dwfl_addrmodule (t->dwfl, addr) : NULL;
  if (mod != NULL && locate_in_module (l, mod, addr, r != NULL) == 0)
    return;
  l->symbol = l->section = l->module = NULL;
  l->offset = 0;
  if (r == NULL)
    {
      l->kind = K_UNMAPPED;
      return;
    }
  l->start = r->start;
  l->end = r->end;
  for (size_t i = 0; i < t->nthreads; i++)
    {
      uint64_t fs = t->threads[i].regs[DMEM_REG_FS_BASE];
      if (fs >= r->start && fs < r->end)
	{
	  l->kind = K_TLS;
	  l->thread = i;
	  return;
	}
    }
  l->kind = holds_block (x->h, r) ? K_FREE
	    : r->file_backed ? K_MAPPING : K_ANONYMOUS;
}

/* What root word WHERE of dmem_refs_roots is.  */
static void
locate_root (struct explain *x, uint64_t where, struct location *l)
{
  if (where == DMEM_REF_LOADER)
    {
      memset (l, 0, sizeof *l);
      l->kind = K_LOADER;
    }
  else if (where < DMEM_REF_REGISTERS_END (x->t))
    {
      memset (l, 0, sizeof *l);
      l->kind = K_REGISTER;
      l->thread = where / DMEM_NREGS;
      l->reg = where % DMEM_NREGS;
    }
  else
    locate (x, where, l);
  l->in_block = l->kind == K_LOADER || l->kind == K_REGISTER ? SIZE_MAX
		: dmem_refs_block_at (x->g, where);
}

/* ---- printing ---- */

/* The frames of unwound frame F: as dmem_symbolize gives them for a
   return address; an activation's PC is the instruction itself, so it is
   looked up one byte on and shown as it is.  *N is set.  */
static const struct dmem_frame *
frame_frames (struct explain *x, const struct uframe *f, size_t *n)
{
  static __thread struct dmem_frame copy[64];
  const struct dmem_frame *s;
  *n = dmem_symbolize (x->t, f->activation ? f->pc + 1 : f->pc, &s);
  if (!f->activation)
    return s;
  if (*n > sizeof copy / sizeof *copy)
    *n = sizeof copy / sizeof *copy;
  for (size_t k = 0; k < *n; k++)
    {
      copy[k] = s[k];
      copy[k].pc = f->pc;
      if (copy[k].function != NULL && !copy[k].inlined)
	copy[k].offset--;
    }
  return copy;
}

/* Frames F (N) on one line: "inner (inlined) (file:line) in
   outer+0xOFF (file:line) [module]".  */
static void
text_frame_line (FILE *out, const struct dmem_frame *f, size_t n)
{
  for (size_t k = 0; k < n; k++)
    {
      if (k > 0)
	fputs (" in ", out);
      if (f[k].function != NULL && f[k].inlined)
	fprintf (out, "%s (inlined)", f[k].function);
      else if (f[k].function != NULL)
	fprintf (out, "%s+0x%" PRIx64, f[k].function, f[k].offset);
      else
	fprintf (out, "0x%" PRIx64, f[k].pc);
      if (f[k].file != NULL)
	fprintf (out, " (%s:%d)", f[k].file, f[k].line);
    }
  if (n > 0 && f[n - 1].module != NULL)
    fprintf (out, " [%s]", base_name (f[n - 1].module));
}

/* Frames F (N) as dmem_json_frames writes them.  */
static void
json_frame_list (FILE *out, const struct dmem_frame *f, size_t n)
{
  putc ('[', out);
  for (size_t k = 0; k < n; k++)
    {
      fprintf (out, "%s{\"pc\": \"0x%" PRIx64 "\", \"function\": ",
	       k ? ", " : "", f[k].pc);
      dmem_json_str (out, f[k].function);
      fputs (", \"symbol\": ", out);
      dmem_json_str (out, f[k].symbol);
      if (f[k].function != NULL)
	fprintf (out, ", \"offset\": %" PRIu64, f[k].offset);
      else
	fputs (", \"offset\": null", out);
      fputs (", \"module\": ", out);
      dmem_json_str (out, f[k].module);
      fputs (", \"file\": ", out);
      dmem_json_str (out, f[k].file);
      if (f[k].file != NULL)
	fprintf (out, ", \"line\": %d", f[k].line);
      else
	fputs (", \"line\": null", out);
      fprintf (out, ", \"inlined\": %s}", f[k].inlined ? "true" : "false");
    }
  putc (']', out);
}

/* L in words, without a final period: as a root, "the stack of thread 7
   at 0x..., frame #3 f+0x1f (f.c:3) [prog]"; what ADDR is (TOP), without
   the address: "on the stack of thread 7, frame #3 ...".  */
static void
text_location (struct explain *x, const struct location *l, int top)
{
  FILE *out = x->out;
  struct dmem_target *t = x->t;
  uint32_t tid = l->kind == K_REGISTER || l->kind == K_STACK
		 || l->kind == K_TLS ? t->threads[l->thread].tid : 0;
  char at[32] = "";
  if (!top)
    snprintf (at, sizeof at, " at 0x%" PRIx64, l->address);
  const char *in = top ? "in " : "";
  switch (l->kind)
    {
    case K_REGISTER:
      fprintf (out, "register %s of thread %" PRIu32, reg_names[l->reg], tid);
      break;
    case K_LOADER:
      fputs ("a block the dynamic linker allocated (held as reachable)", out);
      break;
    case K_STACK:
      {
	const struct unwound *u = &x->threads[l->thread];
	fprintf (out, "%sthe stack of thread %" PRIu32 "%s", top ? "on " : "",
		 tid, at);
	if (l->position == BELOW_SP)
	  fprintf (out, ", below its stack pointer 0x%" PRIx64 " (unused)",
		   u->f[0].sp);
	else if (l->position == BEYOND_FRAMES)
	  fputs (", above its outermost frame", out);
	else
	  {
	    size_t n;
	    const struct dmem_frame *f = frame_frames (x, &u->f[l->frame], &n);
	    fprintf (out, ", frame #%d ", l->frame);
	    text_frame_line (out, f, n);
	  }
	break;
      }
    case K_GLOBAL:
    case K_CODE:
      fprintf (out, "the %s %s:", l->kind == K_CODE ? "code" : "global",
	       base_name (l->module));
      if (l->symbol != NULL)
	fprintf (out, "%s+%" PRIu64, l->symbol, l->offset);
      else if (l->section != NULL)
	fprintf (out, "%s+0x%" PRIx64, l->section, l->offset);
      else
	fprintf (out, "+0x%" PRIx64, l->offset);
      fputs (at, out);
      break;
    case K_TLS:
      fprintf (out, "%sthe TLS of thread %" PRIu32 "%s (the mapping 0x%"
	       PRIx64 "-0x%" PRIx64 " holds its thread pointer)", in, tid, at,
	       l->start, l->end);
      break;
    case K_ANONYMOUS:
      fprintf (out, "%san anonymous mapping%s (0x%" PRIx64 "-0x%" PRIx64
	       ", no block in it: a pool of the program)", in, at, l->start,
	       l->end);
      break;
    case K_MAPPING:
      fprintf (out, "%sa file mapping%s (0x%" PRIx64 "-0x%" PRIx64 ")", in,
	       at, l->start, l->end);
      break;
    case K_FREE:
      fprintf (out, "heap memory%s that no live block holds (in the mapping "
	       "0x%" PRIx64 "-0x%" PRIx64 ")", at, l->start, l->end);
      break;
    default:
      fprintf (out, "0x%" PRIx64 ", not mapped in the target", l->address);
      break;
    }
}

static void
json_hex (FILE *out, const char *name, uint64_t v)
{
  fprintf (out, ", \"%s\": \"0x%" PRIx64 "\"", name, v);
}

/* L's JSON members after its kind (see the top of this file).  */
static void
json_location (struct explain *x, const struct location *l)
{
  FILE *out = x->out;
  struct dmem_target *t = x->t;
  switch (l->kind)
    {
    case K_REGISTER:
      fprintf (out, ", \"tid\": %" PRIu32 ", \"register\": \"%s\"",
	       t->threads[l->thread].tid, reg_names[l->reg]);
      return;
    case K_LOADER:
      return;
    case K_STACK:
      {
	const struct unwound *u = &x->threads[l->thread];
	fprintf (out, ", \"tid\": %" PRIu32, t->threads[l->thread].tid);
	json_hex (out, "address", l->address);
	fprintf (out, ", \"position\": \"%s\", \"frame\": ",
		 position_names[l->position]);
	if (l->frame < 0)
	  {
	    fputs ("null", out);
	    return;
	  }
	const struct uframe *uf = &u->f[l->frame];
	size_t n;
	const struct dmem_frame *f = frame_frames (x, uf, &n);
	fprintf (out, "{\"index\": %d", l->frame);
	json_hex (out, "pc", uf->pc);
	json_hex (out, "sp", uf->sp);
	fputs (", \"frames\": ", out);
	json_frame_list (out, f, n);
	putc ('}', out);
	return;
      }
    case K_GLOBAL:
    case K_CODE:
      json_hex (out, "address", l->address);
      fputs (", \"module\": ", out);
      dmem_json_str (out, l->module);
      fputs (", \"symbol\": ", out);
      dmem_json_str (out, l->symbol);
      fprintf (out, ", \"offset\": %" PRIu64 ", \"section\": ", l->offset);
      dmem_json_str (out, l->section);
      return;
    case K_TLS:
      fprintf (out, ", \"tid\": %" PRIu32, t->threads[l->thread].tid);
      /* fall through */
    case K_ANONYMOUS:
    case K_MAPPING:
    case K_FREE:
      json_hex (out, "address", l->address);
      fprintf (out, ", \"mapping\": {\"start\": \"0x%" PRIx64 "\", \"end\": "
	       "\"0x%" PRIx64 "\"}", l->start, l->end);
      return;
    default:
      json_hex (out, "address", l->address);
      return;
    }
}

/* "the S-byte block at A (thread T)" and, with FRAMES, ", allocated at:"
   and its stack.  */
static void
text_block (struct explain *x, size_t b, int frames)
{
  const struct dmem_block_ref *blk = &x->h->blocks[b];
  fprintf (x->out, "the %" PRIu64 "-byte block at 0x%" PRIx64 " (thread %"
	   PRIu32 ")", dmem_block_size (x->h, blk), (uint64_t) blk->user,
	   dmem_block_tid (x->h, blk));
  if (frames)
    {
      size_t n;
      const uint64_t *pcs = dmem_stack_pcs (x->h, dmem_block_stack (x->h, blk), &n);
      fputs (n ? ", allocated at:\n" : ", allocated at an unknown stack\n",
	     x->out);
      dmem_text_frames (x->out, x->t, pcs, n);
    }
}

/* {"address", "size", "tid", ["offset",] "frames"} of block B.  */
static void
json_block (struct explain *x, size_t b, int with_offset, int64_t offset)
{
  const struct dmem_block_ref *blk = &x->h->blocks[b];
  size_t n;
  const uint64_t *pcs = dmem_stack_pcs (x->h, dmem_block_stack (x->h, blk), &n);
  fprintf (x->out, "{\"address\": \"0x%" PRIx64 "\", \"size\": %" PRIu64
	   ", \"tid\": %" PRIu32, (uint64_t) blk->user,
	   dmem_block_size (x->h, blk), dmem_block_tid (x->h, blk));
  if (with_offset)
    fprintf (x->out, ", \"offset\": %" PRId64, offset);
  fputs (", \"frames\": ", x->out);
  dmem_json_frames (x->out, x->t, pcs, n);
  putc ('}', x->out);
}

/* ---- the chain: breadth-first search over dmem_refs ---- */

#define UNSEEN UINT32_MAX
#define SOURCE (UINT32_MAX - 1)   /* a direct leak the search starts from */

/* Per-block flags.  */
#define DEFERRED 1   /* an interior pointer to it waits in bfs.deferred */
#define WEAK 2       /* reached by the second search */

struct root_word
{
  uint64_t where, value;
};

struct edge
{
  uint32_t from, to;
};

struct bfs
{
  const struct dmem_heap *h;
  size_t target;
  int found;
  /* Per block: UNSEEN, SOURCE, the block whose word points to it, or
     nblocks + the index in roots of the root word that does.  */
  uint32_t *parent;
  unsigned char *flags;
  uint32_t *queue;
  size_t head, tail;
  uint32_t from;             /* what is being scanned, as a parent */
  const unsigned char *mark; /* the leak search: dmem_reach's marks */
  struct root_word *roots;
  size_t nroots, cap_roots;
  struct edge *deferred;     /* interior pointers met by the first search */
  size_t ndeferred, cap_deferred;
  /* Root words inside a block's user part (a mapping holding a thread's
     TLS is a root all through, and the kernel may have merged it with a
     chunk glibc mmapped for a block) are taken after the others, so the
     chain shows the block's own reason to be alive when it has one.  */
  struct dmem_refs *g;
  uint64_t registers_end;
  int late;                  /* taking those root words now */
  int have_late;             /* some were left for later */
  uint64_t in_lo, in_hi;     /* the last block found holding one */
};

static void
reach (struct bfs *s, size_t b, uint32_t from)
{
  s->parent[b] = from;
  s->queue[s->tail++] = b;
  if (b == s->target)
    s->found = 1;
}

static uint32_t
add_root (struct bfs *s, uint64_t where, uint64_t value)
{
  if (s->nroots == s->cap_roots)
    {
      s->cap_roots = s->cap_roots ? 2 * s->cap_roots : 64;
      s->roots = dmem_xrealloc (s->roots, s->cap_roots, sizeof *s->roots);
    }
  s->roots[s->nroots] = (struct root_word) { where, value };
  return s->h->nblocks + s->nroots++;
}

static void
defer (struct bfs *s, uint32_t from, size_t b)
{
  s->flags[b] |= DEFERRED;
  if (s->ndeferred == s->cap_deferred)
    {
      s->cap_deferred = s->cap_deferred ? 2 * s->cap_deferred : 64;
      s->deferred = dmem_xrealloc (s->deferred, s->cap_deferred,
				   sizeof *s->deferred);
    }
  s->deferred[s->ndeferred++] = (struct edge) { from, b };
}

/* Is root word WHERE inside a block's user part?  */
static int
root_in_block (struct bfs *s, uint64_t where)
{
  if (where < s->registers_end || where == DMEM_REF_LOADER)
    return 0;
  if (where - s->in_lo < s->in_hi - s->in_lo)
    return 1;
  size_t b = dmem_refs_block_at (s->g, where);
  if (b == SIZE_MAX)
    return 0;
  s->in_lo = s->h->blocks[b].user;
  s->in_hi = s->in_lo + dmem_block_span (s->h, &s->h->blocks[b]);
  return 1;
}

/* First search, a root word: a start pointer reaches its block, an
   interior one waits for the second search.  The root words inside
   blocks are left for later (s->late).  */
static void
strong_root (void *arg, uint64_t where, uint64_t value, size_t b)
{
  struct bfs *s = arg;
  if (s->found || s->parent[b] != UNSEEN)
    return;
  if (root_in_block (s, where) != s->late)
    {
      s->have_late = 1;
      return;
    }
  int start = value == s->h->blocks[b].user;
  if (!start && (s->flags[b] & DEFERRED))
    return;
  uint32_t code = add_root (s, where, value);
  if (start)
    reach (s, b, code);
  else
    defer (s, code, b);
}

/* First search, a word of block s->from.  */
static void
strong_word (void *arg, uint64_t where __attribute__ ((unused)),
	     uint64_t value, size_t b)
{
  struct bfs *s = arg;
  if (s->found || s->parent[b] != UNSEEN)
    return;
  if (value == s->h->blocks[b].user)
    reach (s, b, s->from);
  else if (!(s->flags[b] & DEFERRED))
    defer (s, s->from, b);
}

/* Second search and the leak search: any pointer reaches its block (the
   leak search: only leaked blocks).  */
static void
weak_word (void *arg, uint64_t where __attribute__ ((unused)),
	   uint64_t value __attribute__ ((unused)), size_t b)
{
  struct bfs *s = arg;
  if (s->found || s->parent[b] != UNSEEN)
    return;
  if (s->mark != NULL && (s->mark[b] == DMEM_REACHABLE
			  || s->mark[b] == DMEM_POSSIBLE))
    return;
  s->flags[b] |= WEAK;
  reach (s, b, s->from);
}

/* Scan the queue until it is empty or the target is reached.  */
static void
drain (struct bfs *s, struct dmem_refs *g, dmem_ref_fn *fn)
{
  while (!s->found && s->head < s->tail)
    {
      s->from = s->queue[s->head++];
      dmem_refs_block (g, s->from, fn, s);
    }
}

static void
bfs_init (struct bfs *s, struct dmem_target *t, const struct dmem_heap *h,
	  size_t target)
{
  memset (s, 0, sizeof *s);
  s->h = h;
  s->target = target;
  s->parent = dmem_xmalloc (h->nblocks * sizeof *s->parent);
  memset (s->parent, 0xff, h->nblocks * sizeof *s->parent);
  s->flags = dmem_xcalloc (h->nblocks, 1);
  s->queue = dmem_xmalloc (h->nblocks * sizeof *s->queue);
  s->registers_end = DMEM_REF_REGISTERS_END (t);
}

static void
bfs_free (struct bfs *s)
{
  free (s->parent);
  free (s->flags);
  free (s->queue);
  free (s->roots);
  free (s->deferred);
}

/* From the roots: through start pointers, then on from the interior
   pointers met.  Returns whether the target was reached.  */
static int
search_roots (struct bfs *s, struct dmem_refs *g)
{
  s->g = g;
  dmem_refs_roots (g, strong_root, s);
  drain (s, g, strong_word);
  if (!s->found && s->have_late)
    {
      s->late = 1;
      dmem_refs_roots (g, strong_root, s);
      drain (s, g, strong_word);
    }
  for (size_t k = 0; !s->found && k < s->ndeferred; k++)
    {
      uint32_t b = s->deferred[k].to;
      if (s->parent[b] == UNSEEN)
	{
	  s->flags[b] |= WEAK;
	  reach (s, b, s->deferred[k].from);
	}
      drain (s, g, weak_word);
    }
  return s->found;
}

/* From every direct leak, over the leaked blocks.  */
static int
search_leaks (struct bfs *s, struct dmem_refs *g, const unsigned char *mark)
{
  s->mark = mark;
  for (size_t b = 0; b < s->h->nblocks && !s->found; b++)
    if (mark[b] == DMEM_LEAK)
      reach (s, b, SOURCE);
  drain (s, g, weak_word);
  return s->found;
}

/* The word of block PARENT chosen as its link to block CHILD: the first
   start pointer, else the first pointer into it.  */
struct pick
{
  size_t child;
  uint64_t user, where, value;
  int have, start;
};

static void
pick_word (void *arg, uint64_t where, uint64_t value, size_t b)
{
  struct pick *p = arg;
  if (b != p->child || p->start)
    return;
  if (value == p->user || !p->have)
    {
      p->where = where;
      p->value = value;
      p->have = 1;
      p->start = value == p->user;
    }
}

/* The word of block PARENT that links it to block CHILD into *WHERE and
   *VALUE: the first start pointer, else the first pointer into it.  Read
   straight from the target, stopping at the first start pointer; the
   reference graph's own scan when that finds nothing (bytes not dumped).  */
#define LINK_WORDS 8192

static void
pick_link (struct explain *x, size_t parent, size_t child, uint64_t *where,
	   uint64_t *value)
{
  const struct dmem_block_ref *p = &x->h->blocks[parent];
  const struct dmem_block_ref *c = &x->h->blocks[child];
  uint64_t span = dmem_block_span (x->h, c);
  int have = 0;
  uint64_t end = p->user + dmem_block_size (x->h, p);
  if (x->buf == NULL)
    x->buf = dmem_xmalloc (LINK_WORDS * sizeof *x->buf);
  for (uint64_t at = (p->user + 7) & ~7ULL; at < end && end - at >= 8;)
    {
      size_t n = (end - at) / 8 < LINK_WORDS ? (end - at) / 8 : LINK_WORDS;
      const unsigned char *v = dmem_view (x->t, at, n * 8, x->buf);
      for (size_t k = 0; v != NULL && k < n; k++)
	{
	  uint64_t w;
	  memcpy (&w, v + 8 * k, 8);
	  if (w - c->user >= span || (have && w != c->user))
	    continue;
	  *where = at + 8 * k;
	  *value = w;
	  have = 1;
	  if (w == c->user)
	    return;
	}
      at += n * 8;
    }
  if (have)
    return;
  struct pick pk = { .child = child, .user = c->user };
  dmem_refs_block (x->g, parent, pick_word, &pk);
  *where = pk.where;
  *value = pk.value;
}

/* Chains longer than this many blocks are shown by their first and last
   CHAIN_SHOWN / 2 blocks.  */
#define CHAIN_SHOWN 32

/* Print the chain ending at the target: text or JSON elements.  */
static void
print_chain (struct explain *x, const struct bfs *s, uint64_t addr)
{
  FILE *out = x->out;
  const struct dmem_heap *h = x->h;
  /* The blocks from the first to the target.  */
  size_t n = 0;
  for (uint32_t b = s->target; b < h->nblocks; b = s->parent[b])
    if (++n > h->nblocks)
      return;   /* cannot happen: a parent is reached first */
  uint32_t *path = dmem_xmalloc (n * sizeof *path);
  size_t k = n;
  uint32_t b = s->target, top;
  for (; b < h->nblocks; b = s->parent[b])
    path[--k] = b;
  top = b;    /* SOURCE, or a root word */
  int first = 1;
  if (top != SOURCE)
    {
      const struct root_word *w = &s->roots[top - h->nblocks];
      struct location l;
      locate_root (x, w->where, &l);
      if (x->json)
	{
	  fprintf (out, "{\"root\": \"%s\"", kind_names[l.kind]);
	  json_location (x, &l);
	  fputs (", \"in_block\": ", out);
	  if (l.in_block != SIZE_MAX)
	    {
	      json_block (x, l.in_block, 1,
			  (int64_t) (w->where - h->blocks[l.in_block].user));
	      putc ('}', out);
	    }
	  else
	    fputs ("null}", out);
	  first = 0;
	}
      else
	{
	  fputs ("  root: ", out);
	  text_location (x, &l, 0);
	  if (l.in_block != SIZE_MAX)
	    {
	      fprintf (out, ",\n  at offset %" PRIu64 " of ",
		       w->where - h->blocks[l.in_block].user);
	      text_block (x, l.in_block, 0);
	      fputs (" (the mapping is a root all through)", out);
	    }
	  putc ('\n', out);
	}
    }
  for (k = 0; k < n; k++)
    {
      if (n > CHAIN_SHOWN && k == CHAIN_SHOWN / 2)
	{
	  size_t left = n - CHAIN_SHOWN;
	  if (x->json)
	    fprintf (out, ", {\"elided\": %zu}", left);
	  else
	    fprintf (out, "  ... %zu more block%s ...\n", left,
		     left == 1 ? "" : "s");
	  k = n - CHAIN_SHOWN / 2 - 1;
	  continue;
	}
      const struct dmem_block_ref *blk = &h->blocks[path[k]];
      int has_link = k > 0 || top != SOURCE;
      uint64_t where = 0, value = 0;
      int from_block = k > 0, from_word = 1;
      if (k == 0 && top != SOURCE)
	{
	  const struct root_word *w = &s->roots[top - h->nblocks];
	  where = w->where;
	  value = w->value;
	  from_word = where != DMEM_REF_LOADER
		      && where >= DMEM_REF_REGISTERS_END (x->t);
	}
      else if (k > 0)
	pick_link (x, path[k - 1], path[k], &where, &value);
      uint64_t parent_user = k > 0 ? h->blocks[path[k - 1]].user : 0;
      if (x->json)
	{
	  fprintf (out, "%s{\"block\": ", first ? "" : ", ");
	  first = 0;
	  json_block (x, path[k], 0, 0);
	  if (!has_link)
	    fputs (", \"from_address\": null, \"from_offset\": null, "
		   "\"pointer\": null, \"points_to\": null, "
		   "\"pointer_offset\": null}", out);
	  else
	    {
	      if (from_word)
		json_hex (out, "from_address", where);
	      else
		fputs (", \"from_address\": null", out);
	      if (from_block)
		fprintf (out, ", \"from_offset\": %" PRIu64,
			 where - parent_user);
	      else
		fputs (", \"from_offset\": null", out);
	      json_hex (out, "pointer", value);
	      fprintf (out, ", \"points_to\": \"%s\", \"pointer_offset\": %"
		       PRIu64 "}", value == blk->user ? "start" : "inside",
		       value - blk->user);
	    }
	  continue;
	}
      if (from_block)
	fprintf (out, "  whose word at offset %" PRIu64 " (0x%" PRIx64 ")\n",
		 where - parent_user, where);
      if (!has_link)
	fputs ("  ", out);
      else if (top != SOURCE && k == 0
	       && s->roots[top - h->nblocks].where == DMEM_REF_LOADER)
	fputs ("  is ", out);
      else if (value == blk->user)
	fputs ("  points to the start of ", out);
      else
	fprintf (out, "  points %" PRIu64 " bytes into ", value - blk->user);
      /* ADDR's block: its stack is above.  */
      text_block (x, path[k], k + 1 < n);
    }
  if (!x->json)
    {
      const struct dmem_block_ref *blk = &h->blocks[s->target];
      uint64_t size = dmem_block_size (h, blk);
      if (addr < blk->user)
	fprintf (out, ",\n  whose header holds 0x%" PRIx64 " (%" PRIu64
		 " bytes below its start)\n", addr, blk->user - addr);
      else if (addr - blk->user >= size && size > 0)
	fprintf (out, ",\n  whose guard holds 0x%" PRIx64 " (%" PRIu64
		 " bytes past its end)\n", addr, addr - blk->user - size);
      else
	fprintf (out, ",\n  which holds 0x%" PRIx64 " at offset %" PRIu64
		 "\n", addr, addr - blk->user);
    }
  free (path);
}

/* ---- freed blocks in the quarantine ---- */

/* The quarantined block holding ADDR: its header address into *HEADER,
   its size, tid, allocation and free stacks.  Returns 0, or -1.  */
struct freed
{
  uint64_t header, user, size;
  uint32_t tid;
  uint64_t alloc_pcs[DMEM_STACK_DEPTH], free_pcs[DMEM_STACK_DEPTH];
  size_t nalloc, nfree;
};

static int
find_freed (struct explain *x, uint64_t addr, struct freed *f)
{
  const uint64_t *d = x->h->desc;
  if (d[DMEM_DESC_FIELDS] <= DMEM_DESC_QUARANTINE_SLOTS
      || d[DMEM_DESC_QUARANTINE] == 0 || d[DMEM_DESC_QUARANTINE_SLOTS] == 0
      || d[DMEM_DESC_QUARANTINE_SLOTS] > 65536)
    return -1;
  uint64_t slots = d[DMEM_DESC_QUARANTINE_SLOTS];
  uint64_t entry = sizeof (struct dmem_quarantine_entry);
  uint64_t ring = offsetof (struct dmem_quarantine, slots) + slots * entry;
  uint64_t depth = d[DMEM_DESC_STACK_DEPTH] < DMEM_STACK_DEPTH
		   ? d[DMEM_DESC_STACK_DEPTH] : DMEM_STACK_DEPTH;
  for (uint64_t r = 0; r < DMEM_QUARANTINE_RINGS; r++)
    for (uint64_t i = 0; i < slots; i++)
      {
	struct dmem_quarantine_entry e;
	uint64_t at = d[DMEM_DESC_QUARANTINE] + r * ring
		      + offsetof (struct dmem_quarantine, slots) + i * entry;
	uint64_t size, magic;
	if (dmem_read (x->t, at, &e, sizeof e) != 0)
	  return -1;
	if (e.block == 0 || addr < e.block
	    || dmem_read (x->t, e.block + d[DMEM_DESC_OFF_SIZE], &size, 8) != 0
	    || dmem_read (x->t, e.block + d[DMEM_DESC_OFF_MAGIC], &magic,
			  8) != 0
	    || magic != (d[DMEM_DESC_FREED_MAGIC] ^ e.block)
	    || addr - e.block >= x->hs + size)
	  continue;
	memset (f, 0, sizeof *f);
	f->header = e.block;
	f->user = e.block + x->hs;
	f->size = size;
	if (dmem_read (x->t, e.block + d[DMEM_DESC_OFF_TID], &f->tid, 4) != 0)
	  f->tid = 0;
	unsigned char hdr[4096];
	uint64_t pcs[64];
	if (x->hs > sizeof hdr || x->h->depth > 64
	    || dmem_read (x->t, e.block, hdr, x->hs) != 0)
	  depth = 0;
	else
	  {
	    dmem_header_pcs (x->h, hdr, pcs);
	    memcpy (f->alloc_pcs, pcs, depth * 8);
	  }
	while (f->nalloc < depth && f->alloc_pcs[f->nalloc] != 0)
	  f->nalloc++;
	memcpy (f->free_pcs, e.pcs, sizeof f->free_pcs);
	while (f->nfree < DMEM_STACK_DEPTH && f->free_pcs[f->nfree] != 0)
	  f->nfree++;
	return 0;
      }
  return -1;
}

/* ---- the report ---- */

/* The block whose header, or guard, holds ADDR: its index, or SIZE_MAX.  */
static size_t
header_or_guard (struct explain *x, uint64_t addr, int *guard)
{
  const struct dmem_heap *h = x->h;
  size_t j = block_above (h, addr);
  *guard = 0;
  if (j < h->nblocks && h->blocks[j].user - addr <= x->hs)
    return j;
  uint64_t gs = h->desc[DMEM_DESC_FIELDS] > DMEM_DESC_GUARD_SIZE
		? h->desc[DMEM_DESC_GUARD_SIZE] : 0;
  if (j > 0 && gs > 0)
    {
      const struct dmem_block_ref *b = &h->blocks[j - 1];
      uint64_t size = dmem_block_size (h, b);
      if (addr - b->user >= size && addr - b->user - size < gs)
	{
	  *guard = 1;
	  return j - 1;
	}
    }
  return SIZE_MAX;
}

/* Block B's status and chain (text or the JSON members "status",
   "chain", "leaked_from").  */
static void
explain_block (struct explain *x, size_t b, uint64_t addr)
{
  FILE *out = x->out;
  const struct dmem_heap *h = x->h;
  struct bfs s;
  bfs_init (&s, x->t, h, b);
  const char *status;
  int chain = 1;
  size_t links = 0;
  unsigned char *mark = NULL;
  if (search_roots (&s, x->g))
    status = s.flags[b] & WEAK ? "possible" : "reachable";
  else
    {
      mark = dmem_reach (x->t, h);
      /* The same roots and words: reachable and possible blocks were
	 found above.  */
      status = mark[b] == DMEM_INDIRECT ? "indirect"
	       : mark[b] == DMEM_POSSIBLE ? "possible"
	       : mark[b] == DMEM_REACHABLE ? "reachable" : "leak";
      chain = 0;
      if (mark[b] == DMEM_INDIRECT)
	{
	  bfs_free (&s);
	  bfs_init (&s, x->t, h, b);
	  chain = search_leaks (&s, x->g, mark);
	}
    }
  size_t from = b;
  if (chain)
    for (uint32_t p = b; p < h->nblocks; p = s.parent[p])
      {
	from = p;
	links++;
      }
  if (status[0] == 'i')
    links--;
  if (x->json)
    {
      fprintf (out, ",\n  \"status\": \"%s\",\n  \"chain\": [", status);
      if (chain)
	print_chain (x, &s, addr);
      fputs ("],\n  \"leaked_from\": ", out);
      if (status[0] == 'i' && chain)
	fprintf (out, "\"0x%" PRIx64 "\"", (uint64_t) h->blocks[from].user);
      else
	fputs ("null", out);
    }
  else
    {
      putc ('\n', out);
      if ((status[0] == 'r' || status[0] == 'p') && !chain)
	fprintf (out, "%s, but no chain of references was found\n", status);
      else if (status[0] == 'r')
	fprintf (out, "reachable: %zu reference%s from a root:\n", links,
		 links == 1 ? "" : "s");
      else if (status[0] == 'p')
	fprintf (out, "possibly reachable: %zu reference%s from a root, "
		 "through an interior pointer (no chain of start pointers "
		 "reaches it):\n", links, links == 1 ? "" : "s");
      else if (status[0] == 'l')
	fputs ("a direct leak: no chain of references from a root reaches "
	       "it, nor from a leaked block it does not reach itself\n", out);
      else if (chain)
	fprintf (out, "an indirect leak: no root reaches it; the direct leak "
		 "at 0x%" PRIx64 " does, through %zu reference%s:\n",
		 (uint64_t) h->blocks[from].user, links, links == 1 ? "" : "s");
      else
	fputs ("an indirect leak: no root reaches it\n", out);
      if (chain)
	print_chain (x, &s, addr);
    }
  free (mark);
  bfs_free (&s);
}

/* JSON for what is no block: "location", then null block and status.  */
static void
json_not_block (struct explain *x, const struct location *l)
{
  FILE *out = x->out;
  fprintf (out, ",\n  \"location\": {\"kind\": \"%s\"", kind_names[l->kind]);
  json_location (x, l);
  if (l->kind == K_GLOBAL)
    {
      uint64_t v;
      if (dmem_read (x->t, l->address & ~7ULL, &v, 8) == 0)
	{
	  size_t b = dmem_refs_block_at (x->g, v);
	  json_hex (out, "value", v);
	  if (b != SIZE_MAX)
	    json_hex (out, "points_to", x->h->blocks[b].user);
	  else
	    fputs (", \"points_to\": null", out);
	}
      else
	fputs (", \"value\": null, \"points_to\": null", out);
    }
  fputs ("},\n  \"block\": null,\n  \"status\": null,\n  \"chain\": [],\n"
	 "  \"leaked_from\": null", out);
}

/* See dmem.h.  */
int
dmem_report_explain (struct dmem_target *t, struct dmem_heap *h,
		     const struct dmem_options *o)
{
  if ((uint64_t) h->nblocks * 3 >= SOURCE)
    {
      fprintf (t->err, "dmem: explain: too many blocks (%zu)\n", h->nblocks);
      return DMEM_EXIT_BAD_INPUT;
    }
  struct explain x = { .t = t, .h = h, .out = o->out,
		       .json = o->format == DMEM_JSON,
		       .hs = h->desc[DMEM_DESC_HEADER_SIZE] };
  x.threads = dmem_xcalloc (t->nthreads + 1, sizeof *x.threads);
  x.g = dmem_refs_new (t, h);
  FILE *out = o->out;
  uint64_t addr = o->address;
  size_t b = dmem_refs_block_at (x.g, addr);
  int guard = 0;
  enum kind what = K_BLOCK;
  if (b == SIZE_MAX)
    {
      b = header_or_guard (&x, addr, &guard);
      what = b == SIZE_MAX ? K_UNMAPPED : guard ? K_GUARD : K_HEADER;
    }
  struct freed f;
  if (b == SIZE_MAX && find_freed (&x, addr, &f) == 0)
    what = K_FREED;
  struct location l;
  if (b == SIZE_MAX && what != K_FREED)
    {
      locate (&x, addr, &l);
      what = l.kind;
    }
  if (x.json)
    fprintf (out, "{\"address\": \"0x%" PRIx64 "\", \"what\": \"%s\"", addr,
	     kind_names[what]);
  if (b != SIZE_MAX)
    {
      const struct dmem_block_ref *blk = &h->blocks[b];
      int64_t off = (int64_t) (addr - blk->user);
      if (x.json)
	{
	  fputs (",\n  \"location\": null,\n  \"block\": ", out);
	  json_block (&x, b, 1, off);
	}
      else
	{
	  fprintf (out, "0x%" PRIx64 " is ", addr);
	  if (what == K_HEADER)
	    fprintf (out, "in the header (%" PRId64 " bytes below the start) "
		     "of ", -off);
	  else if (what == K_GUARD)
	    fprintf (out, "in the guard (%" PRIu64 " bytes past the end) of ",
		     addr - blk->user - dmem_block_size (h, blk));
	  else if (off == 0)
	    fputs ("the start of ", out);
	  else
	    fprintf (out, "%" PRId64 " bytes into ", off);
	  text_block (&x, b, 1);
	}
      explain_block (&x, b, addr);
    }
  else if (what == K_FREED)
    {
      int64_t off = (int64_t) (addr - f.user);
      if (x.json)
	{
	  fprintf (out, ",\n  \"location\": null,\n  \"block\": {\"address\": "
		   "\"0x%" PRIx64 "\", \"size\": %" PRIu64 ", \"tid\": %" PRIu32
		   ", \"offset\": %" PRId64 ", \"frames\": ", f.user, f.size,
		   f.tid, off);
	  dmem_json_frames (out, t, f.alloc_pcs, f.nalloc);
	  fputs (", \"free_frames\": ", out);
	  dmem_json_frames (out, t, f.free_pcs, f.nfree);
	  fputs ("},\n  \"status\": null,\n  \"chain\": [],\n"
		 "  \"leaked_from\": null", out);
	}
      else
	{
	  fprintf (out, "0x%" PRIx64 " is ", addr);
	  if (off < 0)
	    fprintf (out, "in the header (%" PRId64 " bytes below the start) "
		     "of ", -off);
	  else
	    fprintf (out, "%" PRId64 " bytes into ", off);
	  fprintf (out, "the freed %" PRIu64 "-byte block at 0x%" PRIx64
		   " (thread %" PRIu32 "), held in the quarantine; allocated "
		   "at:\n", f.size, f.user, f.tid);
	  dmem_text_frames (out, t, f.alloc_pcs, f.nalloc);
	  fputs ("freed at:\n", out);
	  dmem_text_frames (out, t, f.free_pcs, f.nfree);
	}
    }
  else if (x.json)
    json_not_block (&x, &l);
  else
    {
      fprintf (out, "0x%" PRIx64 " is ", addr);
      if (l.kind == K_UNMAPPED)
	fputs ("not mapped in the target", out);
      else
	text_location (&x, &l, 1);
      fputs (".\n", out);
      uint64_t v;
      size_t vb;
      if (l.kind == K_GLOBAL && dmem_read (t, addr & ~7ULL, &v, 8) == 0
	  && (vb = dmem_refs_block_at (x.g, v)) != SIZE_MAX)
	{
	  fprintf (out, "It holds 0x%" PRIx64 ", which points ", v);
	  if (v == h->blocks[vb].user)
	    fputs ("to the start of ", out);
	  else
	    fprintf (out, "%" PRIu64 " bytes into ", v - h->blocks[vb].user);
	  text_block (&x, vb, 0);
	  fputs (".\n", out);
	}
    }
  if (x.json)
    {
      dmem_json_warnings (out, t);
      fputs ("}\n", out);
    }
  for (size_t i = 0; i < t->nthreads; i++)
    free (x.threads[i].f);
  free (x.threads);
  free (x.buf);
  dmem_refs_free (x.g);
  return DMEM_EXIT_OK;
}
