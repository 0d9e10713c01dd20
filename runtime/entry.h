/* What the entry points of the allocation API share (override.c, cxx.c):
   the trampolines that hand the caller's stack to their C half, and the
   trace-stderr line.  */
#ifndef DMEM_ENTRY_H
#define DMEM_ENTRY_H

#include <stdint.h>

#include "dmem/format.h"
#include "integrity.h"
#include "options.h"
#include "unwind.h"

/* Write "NAME(ARGS) = RESULT" to stderr without allocating.  SPEC has one
   letter per value: 'n' decimal, 'p' pointer; a '=' separates the result.  */
DMEM_HIDDEN void dmem__trace (const char *name, const char *spec, ...);

#define API __attribute__ ((visibility ("default")))

#define TRACE(...) \
  do { if (unlikely (dmem__options.trace_stderr)) dmem__trace (__VA_ARGS__); } while (0)
#define U(x) ((uint64_t) (uintptr_t) (x))

/* The allocating entry points are two-instruction trampolines: they pass
   their stack pointer at entry (which points at the caller's return
   address) and the caller's rbp, as two more arguments in SP and BP, to the
   C function IMPL.  The allocation stack is then unwound from the caller's
   frame directly, with no frame of the runtime to walk or skip.  */
#define ENTRY(name, impl, sp, bp)                                        \
  __asm__ (".text\n"                                                      \
           ".globl " #name "\n"                                           \
           ".type " #name ", @function\n"                                 \
           ".p2align 4\n"                                                 \
           #name ":\n"                                                    \
           "\t.cfi_startproc\n"                                           \
           "\tendbr64\n" /* a valid indirect-branch target under CET */    \
           "\tmovq %rsp, %" sp "\n"                                       \
           "\tmovq %rbp, %" bp "\n"                                       \
           "\tjmp " #impl "\n"                                            \
           "\t.cfi_endproc\n"                                             \
           ".size " #name ", .-" #name "\n")
#define IMPL __attribute__ ((used, visibility ("hidden")))

/* free, operator delete and delete[] of P as KIND (enum dmem_alloc_kind)
   when tracing or quarantining: the trace line, and the stack that frees
   it, which the quarantine keeps.  */
DMEM_HIDDEN void dmem__free_noted (void *p, int kind, const uint64_t *sp,
                                   uint64_t bp);

/* What the freeing entry points do: their common path is a jump to
   dmem__delete, the rest out of line.  */
static inline void
dmem__free_as (void *p, int kind, const uint64_t *sp, uint64_t bp)
{
  if (unlikely (dmem__options.trace_stderr || dmem__quarantine_on ()))
    dmem__free_noted (p, kind, sp, bp);
  else
    dmem__delete (p, kind, NULL);
}
#define STACK(stack, sp, bp)                                             \
  struct dmem_stack stack;                                               \
  dmem__caller_stack (&stack, sp, bp)

#endif
