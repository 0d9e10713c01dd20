/* DMEM_OPTS parsing: a table of options, read once, warnings without malloc.  */
#include "options.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dmem_options dmem__options;

/* PID_PAIR: "N" or "N:M", two longs (M is 0 when not given).  */
enum kind { FLAG, NUMBER, TEXT, PID_PAIR };

static const struct option
{
  const char *name;
  enum kind kind;
  size_t offset;
  size_t size; /* TEXT: room for the value, NUL included; PID_PAIR: offset of M */
} options[] = {
  { "trace-stderr", FLAG, offsetof (struct dmem_options, trace_stderr), 0 },
  { "log-allocs", FLAG, offsetof (struct dmem_options, log_allocs), 0 },
  { "abort-shutdown", FLAG, offsetof (struct dmem_options, abort_shutdown), 0 },
  { "stop-at-exit", PID_PAIR, offsetof (struct dmem_options, stop_at_exit),
    offsetof (struct dmem_options, stop_parent) },
  { "report-socket", TEXT, offsetof (struct dmem_options, report_socket),
    sizeof dmem__options.report_socket },
  { "fail-once", FLAG, offsetof (struct dmem_options, fail_once), 0 },
  { "fail-file", TEXT, offsetof (struct dmem_options, fail_file),
    sizeof dmem__options.fail_file },
  { "fail-ignore", TEXT, offsetof (struct dmem_options, fail_ignore),
    sizeof dmem__options.fail_ignore },
  { "fail-skip", NUMBER, offsetof (struct dmem_options, fail_skip), 0 },
  { "fail-one-in", NUMBER, offsetof (struct dmem_options, fail_one_in), 0 },
  { "keep-going", FLAG, offsetof (struct dmem_options, keep_going), 0 },
  { "quarantine", NUMBER, offsetof (struct dmem_options, quarantine), 0 },
  { "no-mismatch", FLAG, offsetof (struct dmem_options, no_mismatch), 0 },
};


static void
warn (const char *what, const char *opt, size_t len)
{
  struct dmem_line l = { .len = 0 };
  dmem__put (&l, "dmem: ");
  dmem__put (&l, what);
  dmem__put (&l, " '");
  if (len > 100)
    len = 100;
  size_t room = sizeof l.buf - l.len;
  memcpy (l.buf + l.len, opt, len < room ? len : room);
  l.len += len < room ? len : room;
  dmem__put (&l, "' in DMEM_OPTS, ignored\n");
  dmem__flush (&l, STDERR_FILENO);
}

/* Apply one "name" or "name=value" token of LEN bytes.  */
static void
apply (const char *tok, size_t len)
{
  const char *eq = memchr (tok, '=', len);
  size_t name_len = eq ? (size_t) (eq - tok) : len;
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    {
      const struct option *o = &options[i];
      if (strlen (o->name) != name_len || memcmp (o->name, tok, name_len) != 0)
        continue;
      char *field = (char *) &dmem__options + o->offset;
      if (o->kind == FLAG)
        {
          if (eq)
            warn ("option takes no value", tok, len);
          else
            *(int *) field = 1;
          return;
        }
      const char *p = eq ? eq + 1 : tok + len;
      const char *end = tok + len;
      if (p == end)
        {
          warn (o->kind == TEXT ? "option needs a value" : "option needs a number",
                tok, len);
          return;
        }
      if (o->kind == TEXT)
        {
          if ((size_t) (end - p) >= o->size)
            warn ("value too long in option", tok, len);
          else
            {
              memcpy (field, p, (size_t) (end - p));
              field[end - p] = 0;
            }
          return;
        }
      long v[2] = { 0, 0 };
      int n = 0;
      for (const char *digits = p; p < end; p++)
        {
          if (*p == ':' && o->kind == PID_PAIR && n == 0 && p > digits && p + 1 < end)
            n++;
          else if (*p < '0' || *p > '9' || v[n] > 100000000000L)
            {
              warn ("malformed number in option", tok, len);
              return;
            }
          else
            v[n] = v[n] * 10 + (*p - '0');
        }
      *(long *) field = v[0];
      if (o->kind == PID_PAIR) /* a repeated option without :M clears M */
        *(long *) ((char *) &dmem__options + o->size) = v[1];
      return;
    }
  warn ("unknown option", tok, len);
}

void
dmem__options_read (void)
{
  const char *s = getenv ("DMEM_OPTS");
  if (s == NULL)
    return;
  while (*s)
    {
      const char *end = strchr (s, ',');
      size_t len = end ? (size_t) (end - s) : strlen (s);
      if (len > 0)
        apply (s, len);
      s += len;
      if (*s == ',')
        s++;
    }
}
