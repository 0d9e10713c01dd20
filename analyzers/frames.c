/* Stacks of return addresses as the reports print them: text lines, JSON frames, folded stacks.  */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* See dmem.h.  */
void
dmem_json_str (FILE *out, const char *s)
{
  if (s == NULL)
    {
      fputs ("null", out);
      return;
    }
  putc ('"', out);
  for (; *s; s++)
    {
      unsigned char c = *s;
      if (c == '"' || c == '\\')
	fprintf (out, "\\%c", c);
      else if (c < 0x20)
	fprintf (out, "\\u%04x", c);
      else
	putc (c, out);
    }
  putc ('"', out);
}

/* See dmem.h.  */
void
dmem_json_warnings (FILE *out, const struct dmem_target *t)
{
  fputs (",\n  \"warnings\": [", out);
  for (size_t i = 0; i < t->nwarnings; i++)
    {
      fputs (i ? ", " : "", out);
      dmem_json_str (out, t->warnings[i]);
    }
  putc (']', out);
}

/* The last component of PATH.  */
static const char *
basename_of (const char *path)
{
  const char *s = strrchr (path, '/');
  return s ? s + 1 : path;
}

/* See dmem.h: one object per frame, inlined calls expanded.  */
void
dmem_json_frames (FILE *out, struct dmem_target *t, const uint64_t *pcs,
		  size_t n)
{
  putc ('[', out);
  int first = 1;
  for (size_t i = 0; i < n; i++)
    {
      const struct dmem_frame *f;
      size_t nf = dmem_symbolize (t, pcs[i], &f);
      for (size_t k = 0; k < nf; k++, f++)
	{
	  fprintf (out, "%s{\"pc\": \"0x%" PRIx64 "\", \"function\": ",
		   first ? "" : ", ", f->pc);
	  first = 0;
	  dmem_json_str (out, f->function);
	  fputs (", \"symbol\": ", out);
	  dmem_json_str (out, f->symbol);
	  if (f->function != NULL)
	    fprintf (out, ", \"offset\": %" PRIu64, f->offset);
	  else
	    fputs (", \"offset\": null", out);
	  fputs (", \"module\": ", out);
	  dmem_json_str (out, f->module);
	  fputs (", \"file\": ", out);
	  dmem_json_str (out, f->file);
	  if (f->file != NULL)
	    fprintf (out, ", \"line\": %d", f->line);
	  else
	    fputs (", \"line\": null", out);
	  fprintf (out, ", \"inlined\": %s", f->inlined ? "true" : "false");
	  if (f->mismatched)
	    fputs (", \"build_id_mismatch\": true", out);
	  putc ('}', out);
	}
    }
  putc (']', out);
}

/* See dmem.h: "    #K function+0xOFF (file:line) [module]", an inlined
   call marked as such.  */
void
dmem_text_frames (FILE *out, struct dmem_target *t, const uint64_t *pcs,
		  size_t n)
{
  size_t number = 0;
  for (size_t i = 0; i < n; i++)
    {
      const struct dmem_frame *f;
      size_t nf = dmem_symbolize (t, pcs[i], &f);
      for (size_t k = 0; k < nf; k++, f++)
	{
	  fprintf (out, "    #%zu ", number++);
	  if (f->function != NULL && f->inlined)
	    fprintf (out, "%s (inlined)", f->function);
	  else if (f->function != NULL)
	    fprintf (out, "%s+0x%" PRIx64, f->function, f->offset);
	  else
	    fprintf (out, "0x%" PRIx64, f->pc);
	  if (f->file != NULL)
	    fprintf (out, " (%s:%d)", f->file, f->line);
	  if (f->module != NULL)
	    fprintf (out, " [%s%s]", basename_of (f->module),
		     f->mismatched ? ": build-id mismatch" : "");
	  putc ('\n', out);
	}
    }
}

/* See dmem.h.  */
void
dmem_folded_frames (FILE *out, struct dmem_target *t, const uint64_t *pcs,
		    size_t n)
{
  int first = 1;
  for (size_t i = n; i-- > 0;)
    {
      const struct dmem_frame *f;
      size_t nf = dmem_symbolize (t, pcs[i], &f);
      for (size_t k = nf; k-- > 0;)
	{
	  if (!first)
	    putc (';', out);
	  first = 0;
	  if (f[k].function != NULL)
	    fputs (f[k].function, out);
	  else
	    fprintf (out, "0x%" PRIx64, f[k].pc);
	}
    }
}

/* See dmem.h: each of o->stacks parsed (checked by the parser) and printed
   as the reports print frames.  */
int
dmem_report_symbolize (struct dmem_target *t,
		       struct dmem_heap *h __attribute__ ((unused)),
		       const struct dmem_options *o)
{
  FILE *out = o->out;
  if (o->format == DMEM_JSON)
    fputs ("{\"stacks\": [", out);
  for (int i = 0; i < o->nstacks; i++)
    {
      uint64_t pcs[256];
      size_t n = 0;
      for (const char *a = o->stacks[i]; n < sizeof pcs / sizeof *pcs;)
	{
	  char *end;
	  pcs[n++] = strtoull (a, &end, 16);
	  if (*end != ',')
	    break;
	  a = end + 1;
	}
      if (o->format == DMEM_JSON)
	{
	  fputs (i ? ",\n  " : "", out);
	  dmem_json_frames (out, t, pcs, n);
	}
      else
	{
	  if (i > 0)
	    putc ('\n', out);
	  dmem_text_frames (out, t, pcs, n);
	}
    }
  if (o->format == DMEM_JSON)
    {
      putc (']', out);
      dmem_json_warnings (out, t);
      fputs ("}\n", out);
    }
  return DMEM_EXIT_OK;
}
