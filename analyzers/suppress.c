/* LeakSanitizer's suppressions: leak:PATTERN lines, matched against the frames of a leak's stack.  */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "dmem.h"

/* See dmem.h.  LSan's syntax: one KIND:PATTERN a line, spaces and tabs
   around it ignored; LSan itself knows only "leak", ASan's files add
   interceptor_via_fun, interceptor_via_lib, odr_violation...: those are
   kept for the tools they are meant for.  */
int
dmem_suppressions_load (struct dmem_suppressions *s, const char *path,
			char *error, size_t size)
{
  FILE *f = fopen (path, "r");
  if (f == NULL)
    {
      snprintf (error, size, "cannot read the suppressions file '%s': %s",
		path, strerror (errno));
      return DMEM_EXIT_BAD_INPUT;
    }
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0;
  int status = DMEM_EXIT_OK;
  errno = 0;
  while (getline (&line, &cap, f) >= 0)
    {
      lineno++;
      char *p = line;
      while (*p == ' ' || *p == '\t')
	p++;
      char *end = p + strlen (p);
      while (end > p && (end[-1] == '\n' || end[-1] == '\r'
			 || end[-1] == ' ' || end[-1] == '\t'))
	end--;
      *end = 0;
      if (*p == 0 || *p == '#')
	continue;
      char *colon = p;
      while (isalnum ((unsigned char) *colon) || *colon == '_')
	colon++;
      if (colon == p || *colon != ':')
	{
	  snprintf (error, size, "%s:%ld: not a suppression (KIND:PATTERN, "
		    "such as leak:FUNCTION): '%.200s'", path, lineno, p);
	  status = DMEM_EXIT_USAGE;
	  break;
	}
      *colon = 0;
      char *pattern = colon + 1;
      while (*pattern == ' ' || *pattern == '\t')
	pattern++;
      if (strcmp (p, "leak") != 0)
	continue;
      if (*pattern == 0)
	{
	  snprintf (error, size, "%s:%ld: 'leak:' needs a pattern", path,
		    lineno);
	  status = DMEM_EXIT_USAGE;
	  break;
	}
      s->patterns = dmem_xrealloc (s->patterns, s->npatterns + 1,
				   sizeof *s->patterns);
      size_t len = strlen (pattern) + 1;
      s->patterns[s->npatterns] = memcpy (dmem_xmalloc (len), pattern, len);
      s->npatterns++;
    }
  if (status == DMEM_EXIT_OK && ferror (f))
    {
      snprintf (error, size, "cannot read the suppressions file '%s': %s",
		path, strerror (errno ? errno : EIO));
      status = DMEM_EXIT_BAD_INPUT;
    }
  free (line);
  fclose (f);
  return status;
}

/* See dmem.h.  */
void
dmem_suppressions_free (struct dmem_suppressions *s)
{
  for (size_t i = 0; i < s->npatterns; i++)
    free (s->patterns[i]);
  free (s->patterns);
  s->patterns = NULL;
  s->npatterns = 0;
}

/* See dmem.h.  The pattern is a glob of '*' only, with an implicit '*' in
   front unless it starts with '^' and one behind unless a '$' ends it (a
   '$' ends it wherever it is, as in LSan).  LSan takes the first place
   each piece between stars is found; this backtracks, so it matches
   whatever LSan matches (and also "a*b$" in "ab_ab", "b$" in "bb").  */
int
dmem_suppression_match (const char *pattern, const char *str)
{
  if (str == NULL || *str == 0)
    return 0;
  int lead = 1;
  if (*pattern == '^')
    {
      lead = 0;
      pattern++;
    }
  const char *p = pattern, *pe = pattern + strcspn (pattern, "$");
  int trail = *pe != '$';
  if (pe == p && !trail)
    return 0;   /* "$", "^$": only an empty name, as in LSan */
  const char *s = str;
  /* Where to go on after the last star in the pattern (NULL: none yet),
     and the character of STR that star took up to.  */
  const char *star = lead ? p : NULL, *mark = s;
  while (*s)
    {
      if (p < pe && *p == '*')
	{
	  star = ++p;
	  mark = s;
	}
      else if (p < pe && *p == *s)
	{
	  p++;
	  s++;
	}
      else if (p == pe && trail)
	return 1;
      else if (star != NULL)
	{
	  p = star;
	  s = ++mark;
	}
      else
	return 0;
    }
  while (p < pe && *p == '*')
    p++;
  return p == pe;
}

/* The last component of PATH.  */
static const char *
last_component (const char *path)
{
  const char *slash = strrchr (path, '/');
  return slash ? slash + 1 : path;
}

/* The first pattern of S matching one of the N strings WHAT (NULLs
   skipped), or -1.  */
static long
first_match (const struct dmem_suppressions *s, const char *const *what,
	     size_t n)
{
  for (size_t k = 0; k < s->npatterns; k++)
    for (size_t i = 0; i < n; i++)
      if (what[i] != NULL && dmem_suppression_match (s->patterns[k], what[i]))
	return k;
  return -1;
}

/* See dmem.h: LSan's order (GetSuppressionForAddr), per PC the module
   first, then each frame, the innermost inlined call first.  */
long
dmem_suppression_of (const struct dmem_suppressions *s, struct dmem_target *t,
		     const uint64_t *pcs, size_t n)
{
  if (s == NULL || s->npatterns == 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    {
      const struct dmem_frame *f;
      size_t nf = dmem_symbolize (t, pcs[i], &f);
      long k;
      if (nf > 0 && f[0].module != NULL)
	{
	  const char *module[] = { f[0].module, last_component (f[0].module) };
	  if ((k = first_match (s, module, 2)) >= 0)
	    return k;
	}
      for (size_t j = 0; j < nf; j++)
	{
	  const char *what[] = {
	    f[j].function, f[j].symbol, f[j].file,
	    f[j].file ? last_component (f[j].file) : NULL };
	  if ((k = first_match (s, what, 4)) >= 0)
	    return k;
	}
    }
  return -1;
}
