/* dmem report: one self-contained HTML page over the JSON reports of stacks, leaks, stats, mallinfo and verify.  */
#include "config.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dmem.h"
#include "report-html.h"   /* dmem_report_page: analyzers/report.html */

/* Where the data goes in the page.  */
static const char data_marker[] = "@DMEM_DATA@";

/* A stream over another one (the cookie) that writes <, > and & as JSON's
   \u escapes.  The JSON emitters write those bytes only inside strings, so
   the JSON stays the same value, and nothing a target holds can close the
   <script> element that carries it or open another.  */
static ssize_t
escape_write (void *cookie, const char *buf, size_t size)
{
  FILE *out = cookie;
  size_t start = 0;
  for (size_t i = 0; i < size; i++)
    if (buf[i] == '<' || buf[i] == '>' || buf[i] == '&')
      {
	fwrite (buf + start, 1, i - start, out);
	fprintf (out, "\\u%04x", (unsigned char) buf[i]);
	start = i + 1;
      }
  fwrite (buf + start, 1, size - start, out);
  return ferror (out) ? -1 : (ssize_t) size;
}

/* The bundle's manifest, as a JSON string of the text the bundle holds (the
   page parses it, and shows it as text if it is not JSON: a bundle is
   untrusted too), or null for a plain core.  */
static void
json_manifest (FILE *out, const struct dmem_target *t)
{
  dmem_json_str (out, t->manifest);
}

/* See dmem.h.  */
int
dmem_report_html (struct dmem_target *t, struct dmem_heap *h,
		  const struct dmem_options *o)
{
  const char *page = dmem_report_page;
  const char *at = strstr (page, data_marker);
  assert (at != NULL && strstr (at + 1, data_marker) == NULL);
  fwrite (page, 1, at - page, o->out);

  cookie_io_functions_t io = { NULL, escape_write, NULL, NULL };
  FILE *data = fopencookie (o->out, "w", io);
  if (data == NULL)
    {
      fputs ("dmem: out of memory\n", stderr);
      exit (DMEM_EXIT_BAD_INPUT);
    }
  char when[64];
  time_t now = time (NULL);
  struct tm tm;
  strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S UTC",
	    gmtime_r (&now, &tm));
  long limit = o->limit >= 0 ? o->limit : DMEM_REPORT_LIMIT;
  fputs ("{\"version\": \"" PACKAGE_VERSION "\", \"target\": ", data);
  dmem_json_str (data, o->target_name ? o->target_name : "the target");
  fprintf (data, ", \"generated\": \"%s\", \"limit\": %ld,\n", when, limit);

  /* Each part is what `dmem PART --format=json` prints, so the page's
     numbers are the JSON's by construction.  verify goes last: its heap
     check adds the problems it finds to the heap.  */
  struct dmem_options part = *o;
  part.format = DMEM_JSON;
  part.out = data;
  part.error_exitcode = 0;
  part.all = part.retained = 0;
  static const struct
  {
    const char *name;
    int (*report) (struct dmem_target *, struct dmem_heap *,
		   const struct dmem_options *);
    int groups;
  } parts[] = {
    { "stacks", dmem_report_stacks, 1 }, { "leaks", dmem_report_leaks, 1 },
    { "stats", dmem_report_stats, 0 }, { "mallinfo", dmem_report_mallinfo, 0 },
    { "verify", dmem_report_verify, 0 },
  };
  for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
    {
      part.limit = parts[i].groups ? limit : -1;
      fprintf (data, "\"%s\": ", parts[i].name);
      parts[i].report (t, h, &part);
      fputs (",\n", data);
    }
  fputs ("\"manifest\": ", data);
  json_manifest (data, t);
  fputs ("}", data);
  fclose (data);

  fputs (at + sizeof data_marker - 1, o->out);
  return ferror (o->out) ? DMEM_EXIT_BAD_INPUT : DMEM_EXIT_OK;
}
