/* Fast x86-64 stack capture from .eh_frame unwind rules, cached per PC.

   For each PC the unwinder needs only three facts: how to compute the
   frame's CFA (rsp+N, rbp+N, or *(rbp+N) for stack-realigning functions),
   that the return address is at CFA-8, and where the caller's rbp was saved.
   Those are found once per PC by interpreting the module's DWARF CFI (found
   lock-free with _dl_find_object) and kept in a fixed hash table, so a
   steady-state capture is a few loads per frame.  Unsupported rules end the
   stack there: a short stack, never a wrong one.  */
#define _GNU_SOURCE
#include "unwind.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "depot.h"
#include "dmem/format.h"

/* DWARF register numbers on x86-64.  */
enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* How a frame's CFA is computed.  CFA_NONE ends the stack.  */
enum cfa_kind { CFA_NONE, CFA_RSP, CFA_RBP, CFA_DEREF_RBP };
/* Where the caller's rbp is.  */
enum rbp_kind { RBP_SAME, RBP_SAVED, RBP_UNKNOWN };

/* A rule packed in 64 bits: cfa kind (2 bits), rbp kind (2 bits),
   rbp offset from CFA (int16 at bit 16), CFA offset (int32 at bit 32).
   0 is "end of stack".  */
typedef uint64_t rule_t;

static rule_t
pack (enum cfa_kind cfa, int64_t cfa_off, enum rbp_kind rbp, int64_t rbp_off)
{
  if (cfa_off != (int32_t) cfa_off || rbp_off != (int16_t) rbp_off)
    return 0;
  return (uint64_t) cfa | (uint64_t) rbp << 2
         | (uint64_t) (uint16_t) rbp_off << 16
         | (uint64_t) (uint32_t) cfa_off << 32;
}

#define RULE_CFA(r) ((enum cfa_kind) ((r) & 3))
#define RULE_RBP(r) ((enum rbp_kind) (((r) >> 2) & 3))
#define RULE_RBP_OFF(r) ((int64_t) (int16_t) ((r) >> 16))
#define RULE_CFA_OFF(r) ((int64_t) (int32_t) ((r) >> 32))

/* ---- reading DWARF data ------------------------------------------------ */

struct reader
{
  const uint8_t *p, *end;
  int bad;
};

static uint64_t
uleb (struct reader *r)
{
  uint64_t v = 0;
  int shift = 0;
  while (r->p < r->end)
    {
      uint8_t b = *r->p++;
      if (shift < 64)
        v |= (uint64_t) (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80))
        return v;
    }
  r->bad = 1;
  return 0;
}

static int64_t
sleb (struct reader *r)
{
  int64_t v = 0;
  int shift = 0;
  uint8_t b = 0;
  while (r->p < r->end)
    {
      b = *r->p++;
      if (shift < 64)
        v |= (int64_t) (b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80))
        {
          if (shift < 64 && (b & 0x40))
            v |= -((int64_t) 1 << shift);
          return v;
        }
    }
  r->bad = 1;
  return 0;
}

static uint64_t
fixed (struct reader *r, int size)
{
  uint64_t v = 0;
  if (r->end - r->p < size)
    {
      r->bad = 1;
      return 0;
    }
  memcpy (&v, r->p, size);
  r->p += size;
  return v;
}

/* DW_EH_PE pointer encodings.  */
enum
{
  PE_ABSPTR = 0x00, PE_ULEB = 0x01, PE_UDATA2 = 0x02, PE_UDATA4 = 0x03,
  PE_UDATA8 = 0x04, PE_SLEB = 0x09, PE_SDATA2 = 0x0a, PE_SDATA4 = 0x0b,
  PE_SDATA8 = 0x0c, PE_PCREL = 0x10, PE_DATAREL = 0x30, PE_INDIRECT = 0x80,
  PE_OMIT = 0xff
};

/* Read a pointer encoded as ENC; DATA is the base for datarel.  */
static uint64_t
encoded (struct reader *r, uint8_t enc, uint64_t data)
{
  uint64_t here = (uint64_t) (uintptr_t) r->p, v;
  switch (enc & 0x0f)
    {
    case PE_ABSPTR: v = fixed (r, 8); break;
    case PE_ULEB: v = uleb (r); break;
    case PE_UDATA2: v = fixed (r, 2); break;
    case PE_UDATA4: v = fixed (r, 4); break;
    case PE_UDATA8: v = fixed (r, 8); break;
    case PE_SLEB: v = (uint64_t) sleb (r); break;
    case PE_SDATA2: v = (uint64_t) (int64_t) (int16_t) fixed (r, 2); break;
    case PE_SDATA4: v = (uint64_t) (int64_t) (int32_t) fixed (r, 4); break;
    case PE_SDATA8: v = fixed (r, 8); break;
    default: r->bad = 1; return 0;
    }
  switch (enc & 0x70)
    {
    case 0: break;
    case PE_PCREL: v += here; break;
    case PE_DATAREL: v += data; break;
    default: r->bad = 1; return 0;
    }
  if (enc & PE_INDIRECT)
    v = *(const uint64_t *) (uintptr_t) v;
  return v;
}

/* ---- interpreting CFI ------------------------------------------------- */

struct row
{
  enum cfa_kind cfa;
  int64_t cfa_off;
  enum rbp_kind rbp;
  int64_t rbp_off;
  int ra_ok;          /* return address saved at CFA-8 */
  int ra_undefined;   /* outermost frame */
};

struct cie
{
  uint64_t code_align;
  int64_t data_align;
  uint64_t ra_reg;
  uint8_t fde_enc;
  int signal_frame;
  int has_aug_data;   /* 'z': FDEs carry augmentation data */
  struct reader insns;
};

/* Parse the CIE at P; returns 0 on success.  */
static int
parse_cie (const uint8_t *p, struct cie *c)
{
  struct reader r = { p, p + 4, 0 };
  uint64_t len = fixed (&r, 4);
  if (len == 0 || len == 0xffffffff)
    return -1;
  r.end = p + 4 + len;
  if (fixed (&r, 4) != 0) /* CIE id */
    return -1;
  uint8_t version = (uint8_t) fixed (&r, 1);
  const char *aug = (const char *) r.p;
  size_t aug_len = strnlen (aug, (size_t) (r.end - r.p));
  r.p += aug_len + 1;
  c->code_align = uleb (&r);
  c->data_align = sleb (&r);
  c->ra_reg = version == 1 ? fixed (&r, 1) : uleb (&r);
  c->fde_enc = PE_ABSPTR;
  c->signal_frame = 0;
  c->has_aug_data = aug[0] == 'z';
  if (aug[0] == 'z')
    {
      uint64_t alen = uleb (&r);
      const uint8_t *after = r.p + alen;
      for (size_t i = 1; i < aug_len && !r.bad; i++)
        switch (aug[i])
          {
          case 'R': c->fde_enc = (uint8_t) fixed (&r, 1); break;
          case 'L': fixed (&r, 1); break;
          case 'P':
            {
              uint8_t enc = (uint8_t) fixed (&r, 1);
              encoded (&r, enc & ~PE_INDIRECT, 0);
              break;
            }
          case 'S': c->signal_frame = 1; break;
          case 'B': break;
          default: i = aug_len; break; /* unknown: rely on the length */
          }
      r.p = after;
    }
  else if (aug[0] != 0)
    return -1;
  if (r.bad || r.p > r.end)
    return -1;
  c->insns = (struct reader) { r.p, r.end, 0 };
  return 0;
}

#define STATE_STACK 8

/* Run CFI instructions in R, stopping once the location passes TARGET.
   INITIAL holds the CIE's rules (for DW_CFA_restore).  */
static void
run_cfi (struct reader r, const struct cie *c, uint64_t loc, uint64_t target,
         struct row *row, const struct row *initial)
{
  struct row saved[STATE_STACK];
  int depth = 0;
  while (r.p < r.end && !r.bad)
    {
      uint8_t op = *r.p++;
      uint64_t reg, delta = 0;
      int64_t off;
      switch (op & 0xc0)
        {
        case 0x40: /* advance_loc */
          delta = (op & 0x3f) * c->code_align;
          goto advance;
        case 0x80: /* offset */
          reg = op & 0x3f;
          off = (int64_t) uleb (&r) * c->data_align;
          goto offset;
        case 0xc0: /* restore */
          reg = op & 0x3f;
          goto restore;
        }
      switch (op)
        {
        case 0x00: break; /* nop */
        case 0x01: /* set_loc */
          loc = encoded (&r, c->fde_enc, 0);
          if (loc > target)
            return;
          break;
        case 0x02: delta = fixed (&r, 1) * c->code_align; goto advance;
        case 0x03: delta = fixed (&r, 2) * c->code_align; goto advance;
        case 0x04: delta = fixed (&r, 4) * c->code_align; goto advance;
        case 0x05: /* offset_extended */
          reg = uleb (&r);
          off = (int64_t) uleb (&r) * c->data_align;
          goto offset;
        case 0x11: /* offset_extended_sf */
          reg = uleb (&r);
          off = sleb (&r) * c->data_align;
          goto offset;
        case 0x06: /* restore_extended */
          reg = uleb (&r);
          goto restore;
        case 0x07: /* undefined */
          reg = uleb (&r);
          if (reg == REG_RA)
            row->ra_undefined = 1;
          else if (reg == REG_RBP)
            row->rbp = RBP_UNKNOWN;
          break;
        case 0x08: /* same_value */
          reg = uleb (&r);
          if (reg == REG_RBP)
            row->rbp = RBP_SAME;
          break;
        case 0x09: /* register */
          reg = uleb (&r);
          uleb (&r);
          if (reg == REG_RBP)
            row->rbp = RBP_UNKNOWN;
          else if (reg == REG_RA)
            row->ra_ok = 0;
          break;
        case 0x0a: /* remember_state */
          if (depth == STATE_STACK)
            {
              row->cfa = CFA_NONE;
              return;
            }
          saved[depth++] = *row;
          break;
        case 0x0b: /* restore_state */
          if (depth == 0)
            {
              row->cfa = CFA_NONE;
              return;
            }
          *row = saved[--depth];
          break;
        case 0x0c: /* def_cfa */
          reg = uleb (&r);
          row->cfa_off = (int64_t) uleb (&r);
          goto cfa_reg;
        case 0x12: /* def_cfa_sf */
          reg = uleb (&r);
          row->cfa_off = sleb (&r) * c->data_align;
          goto cfa_reg;
        case 0x0d: /* def_cfa_register */
          reg = uleb (&r);
          goto cfa_reg;
        case 0x0e: /* def_cfa_offset */
          row->cfa_off = (int64_t) uleb (&r);
          break;
        case 0x13: /* def_cfa_offset_sf */
          row->cfa_off = sleb (&r) * c->data_align;
          break;
        case 0x0f: /* def_cfa_expression */
          {
            uint64_t len = uleb (&r);
            const uint8_t *e = r.p;
            r.p += len;
            row->cfa = CFA_NONE;
            /* GCC's stack realignment: DW_OP_breg6 (rbp) N; DW_OP_deref.  */
            if (len >= 3 && e[0] == 0x76 && e[len - 1] == 0x06)
              {
                struct reader x = { e + 1, e + len - 1, 0 };
                int64_t n = sleb (&x);
                if (!x.bad && x.p == x.end)
                  {
                    row->cfa = CFA_DEREF_RBP;
                    row->cfa_off = n;
                  }
              }
            break;
          }
        case 0x10: /* expression */
        case 0x16: /* val_expression */
          reg = uleb (&r);
          r.p += uleb (&r);
          if (reg == REG_RBP)
            row->rbp = RBP_UNKNOWN;
          else if (reg == REG_RA)
            row->ra_ok = 0;
          break;
        case 0x14: /* val_offset */
        case 0x15: /* val_offset_sf */
          reg = uleb (&r);
          if (op == 0x14)
            uleb (&r);
          else
            sleb (&r);
          if (reg == REG_RBP)
            row->rbp = RBP_UNKNOWN;
          else if (reg == REG_RA)
            row->ra_ok = 0;
          break;
        case 0x2e: /* GNU_args_size */
          uleb (&r);
          break;
        case 0x2f: /* GNU_negative_offset_extended */
          reg = uleb (&r);
          off = -(int64_t) uleb (&r) * c->data_align;
          goto offset;
        default: /* unknown opcode: cannot go on safely */
          row->cfa = CFA_NONE;
          return;
        }
      continue;

    advance:
      loc += delta;
      if (loc > target)
        return;
      continue;
    offset:
      if (reg == REG_RBP)
        {
          row->rbp = RBP_SAVED;
          row->rbp_off = off;
        }
      else if (reg == REG_RA)
        row->ra_ok = off == -8;
      continue;
    restore:
      if (reg == REG_RBP)
        {
          row->rbp = initial->rbp;
          row->rbp_off = initial->rbp_off;
        }
      else if (reg == REG_RA)
        row->ra_ok = initial->ra_ok;
      continue;
    cfa_reg:
      row->cfa = reg == REG_RSP ? CFA_RSP : reg == REG_RBP ? CFA_RBP : CFA_NONE;
      continue;
    }
  if (r.bad)
    row->cfa = CFA_NONE;
}

/* The unwind rule for PC, computed from the module's .eh_frame_hdr.  */
static rule_t
compute_rule (uint64_t pc)
{
  struct dl_find_object dlfo;
  if (_dl_find_object ((void *) (uintptr_t) pc, &dlfo) != 0
      || dlfo.dlfo_eh_frame == NULL)
    return 0;
  const uint8_t *hdr = dlfo.dlfo_eh_frame;
  uint64_t base = (uint64_t) (uintptr_t) hdr;
  if (hdr[0] != 1 || hdr[3] != (PE_DATAREL | PE_SDATA4))
    return 0;
  struct reader r = { hdr + 4, hdr + 4 + 16, 0 };
  encoded (&r, hdr[1], base); /* eh_frame_ptr: not needed */
  uint64_t count = encoded (&r, hdr[2], base);
  if (r.bad || count == 0)
    return 0;
  /* The table: (initial location, FDE) pairs of int32 relative to HDR,
     sorted by location.  Find the last entry at or below PC.  */
  const int32_t *table = (const int32_t *) r.p;
  uint64_t lo = 0, hi = count;
  while (hi - lo > 1)
    {
      uint64_t mid = (lo + hi) / 2;
      if (base + (int64_t) table[2 * mid] <= pc)
        lo = mid;
      else
        hi = mid;
    }
  if (base + (int64_t) table[2 * lo] > pc)
    return 0;
  const uint8_t *fde = hdr + table[2 * lo + 1];

  struct reader f = { fde, fde + 8, 0 };
  uint64_t len = fixed (&f, 4);
  if (len == 0 || len == 0xffffffff)
    return 0;
  f.end = fde + 4 + len;
  uint64_t cie_off = fixed (&f, 4);
  struct cie c;
  if (parse_cie (fde + 4 - cie_off, &c) != 0 || c.signal_frame
      || c.ra_reg != REG_RA)
    return 0;
  uint64_t start = encoded (&f, c.fde_enc, 0);
  uint64_t range = encoded (&f, c.fde_enc & 0x0f, 0);
  if (f.bad || pc < start || pc - start >= range)
    return 0;
  if (c.has_aug_data)
    f.p += uleb (&f);
  if (f.bad || f.p > f.end)
    return 0;

  struct row initial = { CFA_NONE, 0, RBP_SAME, 0, 0, 0 };
  run_cfi (c.insns, &c, start, UINT64_MAX, &initial, &initial);
  struct row row = initial;
  run_cfi (f, &c, start, pc, &row, &initial);
  if (row.cfa == CFA_NONE || row.ra_undefined || !row.ra_ok)
    return 0;
  return pack (row.cfa, row.cfa_off, row.rbp, row.rbp_off);
}

/* ---- the rule cache ----------------------------------------------------- */

#define CACHE_BITS 14
#define CACHE_SIZE (1u << CACHE_BITS)
#define CACHE_PROBES 8

/* Slots are filled once (rule first, then key with release) and only
   emptied as a whole by dmem__unwind_forget, so readers need no lock.
   Key and rule share a cache line.  */
static struct
{
  uint64_t pc;
  rule_t rule;
} cache[CACHE_SIZE] __attribute__ ((aligned (64)));
static int cache_lock;
/* Bumped when a module goes away: the per-thread memos start afresh.  */
static uint64_t generation = 1;

static inline uint32_t
slot_of (uint64_t pc)
{
  return (uint32_t) ((pc * 0x9e3779b97f4a7c15ULL) >> (64 - CACHE_BITS));
}

static rule_t
rule_for (uint64_t pc)
{
  uint32_t s = slot_of (pc);
  for (int i = 0; i < CACHE_PROBES; i++)
    {
      uint32_t k = (s + i) & (CACHE_SIZE - 1);
      uint64_t key = __atomic_load_n (&cache[k].pc, __ATOMIC_ACQUIRE);
      if (key == pc)
        return cache[k].rule;
      if (key == 0)
        break;
    }
  rule_t rule = compute_rule (pc);
  /* A miss is rare; if another thread (or a signal handler interrupting us)
     holds the lock, skip caching rather than wait.  */
  if (dmem__trylock (&cache_lock))
    {
      for (int i = 0; i < CACHE_PROBES; i++)
        {
          uint32_t k = (s + i) & (CACHE_SIZE - 1);
          uint64_t key = cache[k].pc;
          if (key == pc)
            break;
          if (key == 0)
            {
              cache[k].rule = rule;
              __atomic_store_n (&cache[k].pc, pc, __ATOMIC_RELEASE);
              break;
            }
        }
      dmem__unlock (&cache_lock);
    }
  return rule;
}

void
dmem__unwind_forget (void)
{
  __atomic_add_fetch (&generation, 1, __ATOMIC_RELEASE);
  dmem__lock (&cache_lock);
  for (uint32_t k = 0; k < CACHE_SIZE; k++)
    __atomic_store_n (&cache[k].pc, 0, __ATOMIC_RELAXED);
  dmem__unlock (&cache_lock);
}

void
dmem__unwind_fork_prepare (void)
{
  dmem__lock (&cache_lock);
}

void
dmem__unwind_fork_parent (void)
{
  dmem__unlock (&cache_lock);
}

void
dmem__unwind_fork_child (void)
{
  cache_lock = 0;
}

/* ---- capture ---------------------------------------------------------- */

/* libdmem.so's own text, whose frames are not shown.  */
static uint64_t own_start, own_end;

static void
find_own_text (void)
{
  struct dl_find_object dlfo;
  if (_dl_find_object ((void *) (uintptr_t) &find_own_text, &dlfo) == 0)
    {
      own_end = (uint64_t) (uintptr_t) dlfo.dlfo_map_end;
      __atomic_store_n (&own_start, (uint64_t) (uintptr_t) dlfo.dlfo_map_start,
                        __ATOMIC_RELEASE);
    }
}

/* Frames walked at most: the recorded ones plus the runtime's own.  */
#define MAX_STEPS 32

/* A rule unpacked, for the per-thread memo below.  */
struct memo
{
  uint64_t pc;
  int32_t cfa_off;
  int16_t rbp_off;
  uint8_t cfa;  /* enum cfa_kind */
  uint8_t rbp;  /* enum rbp_kind */
};

/* The rules of this thread's previous capture, by frame: allocation stacks
   repeat, and this small array stays in cache when the big table does not.
   Valid while memo_generation matches generation (bumped when modules go).  */
static __thread struct memo last_rules[MAX_STEPS];
static __thread uint64_t memo_generation;

static void
remember (struct memo *m, uint64_t pc)
{
  rule_t r = rule_for (pc);
  m->pc = pc;
  m->cfa_off = (int32_t) RULE_CFA_OFF (r);
  m->rbp_off = (int16_t) RULE_RBP_OFF (r);
  m->cfa = (uint8_t) RULE_CFA (r);
  m->rbp = (uint8_t) RULE_RBP (r);
}

/* Frames larger than this are taken as a broken rule.  */
#define MAX_FRAME (64ull << 20)

/* Walk the stack whose innermost frame has registers SP and BP and whose
   unwind rule is the one at LOOKUP (the PC itself for an interrupted frame,
   return address - 1 for a caller).  Stores up to DEPTH return addresses,
   leaving out the leading ones inside libdmem.so if SKIP_OWN; zero-fills
   the rest of PCS.  Returns how many were stored.  With SLOTS, stores
   there the address each of them was read from, and returns -1 - n if the
   walk depended on more than those words and the PCs' unwind rules: a
   frame's CFA was not found from its SP alone (it took rbp), or the walk
   ended on a word it read (a return address below 4096).  */
static inline __attribute__ ((always_inline)) int
unwind (uint64_t lookup, uint64_t sp, uint64_t bp, uint64_t *pcs, int depth,
        int skip_own, uint64_t *slots)
{
  int sp_only = 1;
  if (unlikely (skip_own && __atomic_load_n (&own_start, __ATOMIC_ACQUIRE) == 0))
    find_own_text ();
  uint64_t gen = __atomic_load_n (&generation, __ATOMIC_ACQUIRE);
  if (unlikely (memo_generation != gen))
    {
      memset (last_rules, 0, sizeof last_rules);
      memo_generation = gen;
    }
  int n = 0, bp_known = 1;
  /* Frames of the runtime itself are walked, not stored, so the memo is
     indexed by step, which runs ahead of N while skipping.  */
  for (int steps = 0; n < depth && steps < MAX_STEPS; steps++)
    {
      struct memo *m = &last_rules[steps];
      if (unlikely (m->pc != lookup))
        remember (m, lookup);
      uint64_t cfa;
      if (likely (m->cfa == CFA_RSP))
        cfa = sp + (uint64_t) (int64_t) m->cfa_off;
      else if (m->cfa == CFA_RBP && bp_known)
        {
          cfa = bp + (uint64_t) (int64_t) m->cfa_off;
          sp_only = 0;
        }
      else if (m->cfa == CFA_DEREF_RBP && bp_known && bp - sp - 1 < MAX_FRAME)
        {
          cfa = *(const uint64_t *) (uintptr_t) (bp + (uint64_t) (int64_t) m->cfa_off);
          sp_only = 0;
        }
      else
        break;
      /* The CFA must be above SP, by less than MAX_FRAME.  */
      if (unlikely (cfa - sp - 1 >= MAX_FRAME))
        break;
      uint64_t ra = ((const uint64_t *) (uintptr_t) cfa)[-1];
      if (m->rbp != RBP_SAME)
        {
          if (m->rbp == RBP_SAVED)
            bp = *(const uint64_t *) (uintptr_t) (cfa + (uint64_t) (int64_t) m->rbp_off);
          else
            bp_known = 0;
        }
      sp = cfa;
      if (unlikely (ra < 4096))
        {
          sp_only = 0;
          break;
        }
      /* A return address follows the call; the call itself is at ra-1.  */
      lookup = ra - 1;
      if (unlikely (skip_own))
        {
          if (ra >= own_start && ra < own_end)
            continue;
          skip_own = 0;
        }
      if (slots != NULL)
        slots[n] = cfa - 8;
      pcs[n++] = ra;
    }
  for (int i = n; i < depth; i++)
    pcs[i] = 0;
  return slots != NULL && !sp_only ? -1 - n : n;
}

__attribute__ ((noinline)) int
dmem__capture_stack (uint64_t *pcs, int depth)
{
  uint64_t pc, sp, bp;
  __asm__ volatile ("leaq 0(%%rip), %0\n\t"
                    "movq %%rsp, %1\n\t"
                    "movq %%rbp, %2"
                    : "=r"(pc), "=r"(sp), "=r"(bp));
  return unwind (pc, sp, bp, pcs, depth, 1, NULL);
}

int
dmem__unwind_from (uint64_t pc, uint64_t sp, uint64_t bp, uint64_t *pcs,
                   int depth)
{
  if (depth <= 0)
    return 0;
  pcs[0] = pc;
  return 1 + unwind (pc, sp, bp, pcs + 1, depth - 1, 0, NULL);
}

/* This thread's recent allocation stacks, by stack pointer at the entry
   point and return address.  A loop allocating from one place calls with
   the same SP and return address each time; if each return address the walk
   read is still in its slot, the walk would read the same words and find
   the same stack, so it is not walked again, nor looked up in the depot.
   That holds only when every frame's CFA came from its SP: stacks that
   needed rbp are not kept here.  */
#define RECENT 4
#define RECENT_PCS (DMEM_STACK_DEPTH - 1)  /* the PCs after ra */
struct recent
{
  uint64_t sp, ra, generation;  /* sp 0: empty */
  uint64_t slots[RECENT_PCS];
  uint64_t pcs[RECENT_PCS];
  uint32_t id;                  /* of ra and pcs in the depot */
};
static __thread struct recent recent[RECENT];

/* The slot checked for the PCs past the end of a stack shorter than
   DMEM_STACK_DEPTH: it holds their 0 forever.  */
static const uint64_t no_more_frames;

/* The miss path of dmem__caller_stack: walk, look the stack up in the
   depot, and keep both in R.  */
static __attribute__ ((noinline)) void
walk_and_keep (struct recent *r, struct dmem_stack *stack, uint64_t ra,
               uint64_t sp, uint64_t bp, uint64_t gen)
{
  uint64_t slots[RECENT_PCS];
  int n = unwind (ra - 1, sp, bp, stack->pcs + 1, RECENT_PCS, 0, slots);
  stack->id = dmem__depot_put (stack->pcs);
  /* A walk that ended early for its rules (the outermost frame, such as
     _start's or clone's, says there is no caller) is kept: the same words
     give the same end.  */
  if (n < 0)
    return;
  for (int i = n; i < RECENT_PCS; i++)
    slots[i] = (uint64_t) (uintptr_t) &no_more_frames;
  /* A signal handler allocating meanwhile sees the entry empty.  */
  r->sp = 0;
  __atomic_signal_fence (__ATOMIC_SEQ_CST);
  r->ra = ra;
  r->generation = gen;
  memcpy (r->slots, slots, sizeof r->slots);
  memcpy (r->pcs, stack->pcs + 1, sizeof r->pcs);
  r->id = stack->id;
  __atomic_signal_fence (__ATOMIC_SEQ_CST);
  r->sp = sp;
}

void
dmem__caller_stack (struct dmem_stack *stack, const uint64_t *entry_sp,
                    uint64_t entry_bp)
{
  uint64_t ra = entry_sp[0], sp = (uint64_t) (uintptr_t) (entry_sp + 1);
  stack->pcs[0] = ra;
  struct recent *r = &recent[((sp >> 4) ^ (ra >> 2)) % RECENT];
  uint64_t gen = __atomic_load_n (&generation, __ATOMIC_ACQUIRE);
  if (r->sp == sp && r->ra == ra && r->generation == gen)
    {
      uint64_t changed = 0;
#pragma GCC unroll 16
      for (int i = 0; i < RECENT_PCS; i++)
        changed |= *(const uint64_t *) (uintptr_t) r->slots[i] ^ r->pcs[i];
      if (likely (changed == 0))
        {
          memcpy (stack->pcs + 1, r->pcs, sizeof r->pcs);
          stack->id = r->id;
          return;
        }
    }
  walk_and_keep (r, stack, ra, sp, entry_bp, gen);
}
