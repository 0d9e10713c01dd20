/* C++ operator new and delete (the Itanium-mangled symbols libstdc++
   exports, every variant: array, nothrow, aligned, sized), so blocks know
   whether new, new[] or malloc made them and freeing one another way is
   reported (alloc-dealloc-mismatch), and their stacks start at the caller
   of new.

   This file is C: libdmem.so must not need libstdc++, which would load it
   into every C program.  What only the C++ runtime can do, it is asked for
   when it is needed: std::get_new_handler and std::__throw_bad_alloc are
   looked up (dlsym) the first time an allocation fails.  A program calling
   operator new has a C++ runtime loaded that defines them.  An exception
   thrown from here unwinds through the C frames below it: they have unwind
   tables (-fasynchronous-unwind-tables) and nothing to clean up.  */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include "entry.h"
#include "heap.h"
#include "integrity.h"

typedef void (*new_handler) (void);

/* The C++ runtime's function NAME (RTLD_DEFAULT) or NULL; looked up once.  */
static void *
cxx_function (void **cache, const char *name)
{
  void *f = __atomic_load_n (cache, __ATOMIC_ACQUIRE);
  if (f == NULL)
    {
      f = dlsym (RTLD_DEFAULT, name);
      __atomic_store_n (cache, f, __ATOMIC_RELEASE);
    }
  return f;
}

/* std::get_new_handler (), or NULL when none is installed.  */
static new_handler
current_new_handler (void)
{
  static void *get;
  new_handler (*f) (void)
    = (new_handler (*) (void)) cxx_function (&get, "_ZSt15get_new_handlerv");
  return f ? f () : NULL;
}

/* Throw std::bad_alloc, as libstdc++'s operator new does.  */
__attribute__ ((noreturn)) static void
throw_bad_alloc (void)
{
  static void *thrower;
  void (*f) (void) = (void (*) (void)) cxx_function (&thrower,
                                                      "_ZSt17__throw_bad_allocv");
  if (f)
    f ();
  static const char msg[] = "dmem: operator new is out of memory and no C++ "
                            "runtime is loaded to throw std::bad_alloc\n";
  if (write (STDERR_FILENO, msg, sizeof msg - 1) < 0)
    abort ();
  abort ();
}

/* operator new's ALIGN must be a power of two; round any other up to one
   as memalign does, rather than hand heap.c an alignment it cannot take.  */
static size_t
power_of_two_above (size_t align)
{
  size_t a = 1;
  while (a < align && a != 0)
    a <<= 1;
  return a;
}

/* Throwing new out of memory: call the new handler and retry while one is
   installed (it frees memory, throws or ends the program), else throw.  */
__attribute__ ((noinline, cold)) static void *
new_failed (size_t size, size_t align, int kind,
            const struct dmem_stack *stack)
{
  for (;;)
    {
      new_handler h = current_new_handler ();
      if (h == NULL)
        throw_bad_alloc ();
      h ();
      void *p = dmem__new (size, align, kind, stack);
      if (p != NULL)
        return p;
    }
}

static inline void *
new_throwing (size_t size, size_t align, int kind,
              const struct dmem_stack *stack)
{
  void *p = dmem__new (size, align, kind, stack);
  if (likely (p != NULL))
    return p;
  return new_failed (size, align, kind, stack);
}

/* Nothrow new: NULL on failure.  A new handler may throw, and C cannot
   catch: while one is installed, the retries are the C++ runtime's own
   nothrow new (NEXT, found below us), which catches std::bad_alloc around
   a call of the throwing new, ours.  */
static void *
new_nothrow (size_t size, size_t align, int kind,
             const struct dmem_stack *stack,
             void **next, const char *next_name)
{
  void *p = dmem__new (size, align, kind, stack);
  if (likely (p != NULL) || current_new_handler () == NULL)
    return p;
  void *f = __atomic_load_n (next, __ATOMIC_ACQUIRE);
  if (f == NULL)
    {
      f = dlsym (RTLD_NEXT, next_name);
      __atomic_store_n (next, f, __ATOMIC_RELEASE);
    }
  if (f == NULL)
    return NULL; /* no C++ runtime below us: the handler is not called */
  /* The second argument is a const std::nothrow_t &: an empty class that
     is never read; the aligned forms take the alignment before it.  */
  static const char nothrow_tag;
  if (align == 0)
    return ((void *(*) (size_t, const void *)) f) (size, &nothrow_tag);
  return ((void *(*) (size_t, size_t, const void *)) f) (size, align,
                                                         &nothrow_tag);
}

/* ---- programs with their own operators -------------------------------- */

/* Whether the program defines an operator new or delete of its own (it may
   replace them): a definition in the executable, or in a library before
   us, is found first.  Its new may take blocks from malloc and its delete
   give them to free, and the C++ runtime's other operators are to call its
   ones (new[] calls new, delete[] delete...).  Ours then step aside: each
   forwards to the C++ runtime's own (found below us), which calls the
   program's operators where it has them and ends in malloc and free, ours.
   Blocks are then all malloc's, and no mismatch is reported.  Looked up at
   the first call of an operator.  */
static int replaced = -1;

static int
check_replaced (void)
{
  static const char *const names[] = { "_Znwm", "_Znam", "_ZdlPv", "_ZdaPv",
                                       "_ZnwmSt11align_val_t",
                                       "_ZdlPvSt11align_val_t" };
  Dl_info self, info;
  int r = 0;
  if (dladdr ((void *) cxx_function, &self))
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
      {
        void *f = dlsym (RTLD_DEFAULT, names[i]);
        if (f != NULL && dladdr (f, &info) && info.dli_fbase != self.dli_fbase)
          r = 1;
      }
  __atomic_store_n (&replaced, r, __ATOMIC_RELAXED);
  return r;
}

int
dmem__operators_replaced (void)
{
  int r = __atomic_load_n (&replaced, __ATOMIC_RELAXED);
  return likely (r == 0) ? 0 : r > 0 ? 1 : check_replaced ();
}

/* The C++ runtime's operator NAME, below us, if we are to forward to it;
   else NULL.  Called only while REPLACED is not 0 (unknown or yes).  */
__attribute__ ((noinline, cold)) static void *
forward_to (void **cache, const char *name)
{
  if (!dmem__operators_replaced ())
    return NULL;
  void *f = __atomic_load_n (cache, __ATOMIC_ACQUIRE);
  if (f == NULL)
    {
      f = dlsym (RTLD_NEXT, name);
      __atomic_store_n (cache, f, __ATOMIC_RELEASE);
    }
  return f;
}

/* Forward to the C++ runtime's operator NAME of TYPE if the program has
   its own, and return what it returns.  The test of REPLACED is all that
   it costs a program that does not.  */
#define FORWARD(name, type, ...)                                         \
  static void *next_op;                                                  \
  void *f_;                                                              \
  if (unlikely (__atomic_load_n (&replaced, __ATOMIC_RELAXED) != 0)      \
      && (f_ = forward_to (&next_op, #name)) != NULL)                    \
    return ((type) f_) (__VA_ARGS__)
#define FORWARD_VOID(name, type, ...)                                    \
  static void *next_op;                                                  \
  void *f_;                                                              \
  if (unlikely (__atomic_load_n (&replaced, __ATOMIC_RELAXED) != 0)      \
      && (f_ = forward_to (&next_op, #name)) != NULL)                    \
    {                                                                    \
      ((type) f_) (__VA_ARGS__);                                         \
      return;                                                            \
    }

static const char *const new_names[] = { "", "operator new", "operator new[]" };

/* Each entry point's stack pointer and rbp arrive in the two argument
   registers after its own arguments (entry.h).  */
#define NEW(name, kind)                                                  \
  ENTRY (name, dmem__##name##_entry, "rsi", "rdx");                      \
  IMPL void *                                                            \
  dmem__##name##_entry (size_t size, const uint64_t *sp, uint64_t bp)    \
  {                                                                      \
    FORWARD (name, void *(*) (size_t), size);                            \
    STACK (stack, sp, bp);                                               \
    void *p = new_throwing (size, 0, kind, &stack);                      \
    TRACE (new_names[kind], "n=p", U (size), U (p));                     \
    return p;                                                            \
  }
#define NEW_NOTHROW(name, kind)                                          \
  ENTRY (name, dmem__##name##_entry, "rdx", "rcx");                      \
  IMPL void *                                                            \
  dmem__##name##_entry (size_t size, const void *tag, const uint64_t *sp, \
                        uint64_t bp)                                     \
  {                                                                      \
    FORWARD (name, void *(*) (size_t, const void *), size, tag);         \
    static void *next;                                                   \
    STACK (stack, sp, bp);                                               \
    void *p = new_nothrow (size, 0, kind, &stack, &next, #name);         \
    TRACE (new_names[kind], "n=p", U (size), U (p));                     \
    return p;                                                            \
  }
#define NEW_ALIGNED(name, kind)                                          \
  ENTRY (name, dmem__##name##_entry, "rdx", "rcx");                      \
  IMPL void *                                                            \
  dmem__##name##_entry (size_t size, size_t align, const uint64_t *sp,   \
                        uint64_t bp)                                     \
  {                                                                      \
    FORWARD (name, void *(*) (size_t, size_t), size, align);             \
    STACK (stack, sp, bp);                                               \
    void *p = new_throwing (size, power_of_two_above (align), kind, &stack); \
    TRACE (new_names[kind], "nn=p", U (size), U (align), U (p));         \
    return p;                                                            \
  }
#define NEW_ALIGNED_NOTHROW(name, kind)                                  \
  ENTRY (name, dmem__##name##_entry, "rcx", "r8");                       \
  IMPL void *                                                            \
  dmem__##name##_entry (size_t size, size_t align, const void *tag,      \
                        const uint64_t *sp, uint64_t bp)                 \
  {                                                                      \
    FORWARD (name, void *(*) (size_t, size_t, const void *), size, align, \
             tag);                                                       \
    static void *next;                                                   \
    STACK (stack, sp, bp);                                               \
    void *p = new_nothrow (size, power_of_two_above (align), kind, &stack, \
                           &next, #name);                                \
    TRACE (new_names[kind], "nn=p", U (size), U (align), U (p));         \
    return p;                                                            \
  }

/* operator new (size_t), new[] and their nothrow and aligned forms.  */
NEW (_Znwm, DMEM_ALLOC_NEW)
NEW (_Znam, DMEM_ALLOC_NEW_ARRAY)
NEW_NOTHROW (_ZnwmRKSt9nothrow_t, DMEM_ALLOC_NEW)
NEW_NOTHROW (_ZnamRKSt9nothrow_t, DMEM_ALLOC_NEW_ARRAY)
NEW_ALIGNED (_ZnwmSt11align_val_t, DMEM_ALLOC_NEW)
NEW_ALIGNED (_ZnamSt11align_val_t, DMEM_ALLOC_NEW_ARRAY)
NEW_ALIGNED_NOTHROW (_ZnwmSt11align_val_tRKSt9nothrow_t, DMEM_ALLOC_NEW)
NEW_ALIGNED_NOTHROW (_ZnamSt11align_val_tRKSt9nothrow_t, DMEM_ALLOC_NEW_ARRAY)

/* The deletes, as free (entry.h).  The size and alignment
   arguments need no use: the header knows both.  DELETEn takes n
   arguments, which puts the stack pointer in the next register.  */
#define DELETE1(name, kind)                                              \
  ENTRY (name, dmem__##name##_entry, "rsi", "rdx");                      \
  IMPL void                                                              \
  dmem__##name##_entry (void *p, const uint64_t *sp, uint64_t bp)        \
  {                                                                      \
    FORWARD_VOID (name, void (*) (void *), p);                           \
    dmem__free_as (p, kind, sp, bp);                                     \
  }
#define DELETE2(name, kind)                                              \
  ENTRY (name, dmem__##name##_entry, "rdx", "rcx");                      \
  IMPL void                                                              \
  dmem__##name##_entry (void *p, uint64_t a, const uint64_t *sp,         \
                        uint64_t bp)                                     \
  {                                                                      \
    FORWARD_VOID (name, void (*) (void *, uint64_t), p, a);              \
    dmem__free_as (p, kind, sp, bp);                                     \
  }
#define DELETE3(name, kind)                                              \
  ENTRY (name, dmem__##name##_entry, "rcx", "r8");                       \
  IMPL void                                                              \
  dmem__##name##_entry (void *p, uint64_t a, uint64_t b,                 \
                        const uint64_t *sp, uint64_t bp)                 \
  {                                                                      \
    FORWARD_VOID (name, void (*) (void *, uint64_t, uint64_t), p, a, b); \
    dmem__free_as (p, kind, sp, bp);                                     \
  }

DELETE1 (_ZdlPv, DMEM_ALLOC_NEW)
DELETE1 (_ZdaPv, DMEM_ALLOC_NEW_ARRAY)
DELETE2 (_ZdlPvm, DMEM_ALLOC_NEW)
DELETE2 (_ZdaPvm, DMEM_ALLOC_NEW_ARRAY)
DELETE2 (_ZdlPvRKSt9nothrow_t, DMEM_ALLOC_NEW)
DELETE2 (_ZdaPvRKSt9nothrow_t, DMEM_ALLOC_NEW_ARRAY)
DELETE2 (_ZdlPvSt11align_val_t, DMEM_ALLOC_NEW)
DELETE2 (_ZdaPvSt11align_val_t, DMEM_ALLOC_NEW_ARRAY)
DELETE3 (_ZdlPvmSt11align_val_t, DMEM_ALLOC_NEW)
DELETE3 (_ZdaPvmSt11align_val_t, DMEM_ALLOC_NEW_ARRAY)
DELETE3 (_ZdlPvSt11align_val_tRKSt9nothrow_t, DMEM_ALLOC_NEW)
DELETE3 (_ZdaPvSt11align_val_tRKSt9nothrow_t, DMEM_ALLOC_NEW_ARRAY)

