/* Live blocks whose user memory starts a page.  free tells its blocks by
   the header just below the pointer; below a page start, reading it needs
   the kernel's word that the page is mapped (a pointer of someone else's
   may have nothing below it), one mincore call: 1.4 us on some VMs.  A
   block known here needs no such call.  About one block in 256 is.  */
#ifndef DMEM_PAGESTART_H
#define DMEM_PAGESTART_H

#include "prim.h"

/* Note, forget, and ask about the block with header HEADER.  Noting may
   fail (no memory for the table): the block is then asked about through
   mincore, as any other pointer.  */
DMEM_HIDDEN void dmem__page_start_add (const void *header);
DMEM_HIDDEN void dmem__page_start_remove (const void *header);
DMEM_HIDDEN int dmem__page_start_known (const void *header);

/* fork: keep the table's lock consistent across fork.  */
DMEM_HIDDEN void dmem__page_start_fork_prepare (void);
DMEM_HIDDEN void dmem__page_start_fork_parent (void);
DMEM_HIDDEN void dmem__page_start_fork_child (void);

#endif
