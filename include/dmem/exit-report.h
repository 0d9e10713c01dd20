/* What a process under the runtime tells `dmem run --follow-children` at
   its exit, over the abstract unix socket named by DMEM_OPTS report-socket
   (SOCK_SEQPACKET, one message each way).

   The process connects, sends one struct dmem_exit_message and waits; dmem
   run reads its heap, then sends one byte (any value) or closes the socket,
   and the process goes on with its exit.  dmem run checks PID against the
   connection's SO_PEERCRED.  */
#ifndef DMEM_EXIT_REPORT_H
#define DMEM_EXIT_REPORT_H

#include <stdint.h>

#define DMEM_EXIT_MAGIC 0x54584d44u /* "DMXT" */

enum dmem_exit_how
{
  DMEM_EXIT_VIA_EXIT = 1,   /* exit(), return from main: atexit handlers ran */
  DMEM_EXIT_VIA__EXIT = 2,  /* _exit() or _Exit(): none ran, stdio unflushed */
};

struct dmem_exit_message
{
  uint32_t magic;   /* DMEM_EXIT_MAGIC */
  uint32_t how;     /* enum dmem_exit_how */
  int32_t pid;      /* the exiting process */
  uint32_t stopped; /* 1: a helper stopped it with SIGSTOP before sending */
};

#endif
