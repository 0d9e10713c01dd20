/* Compressed input read as it is: zstd, xz, lz4 (frame) and gzip streams by their magic, and temporary files to hold what they expand to.  */
#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include "dmem.h"

#define IN_SIZE (1 << 17)

struct dmem_stream
{
  enum dmem_compression kind;
  int fd;
  unsigned char *in;        /* compressed bytes read from fd */
  size_t in_len, in_pos;
  int in_eof;
  int done;                 /* the (last) frame ended */
  uint64_t in_total;        /* compressed bytes consumed */
  ZSTD_DStream *zstd;
  lzma_stream xz;
  LZ4F_dctx *lz4;
  z_stream gz;
  char error[256];
};

/* See dmem.h.  */
enum dmem_compression
dmem_compression_of (const unsigned char *m, size_t n)
{
  if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
    return DMEM_ZSTD;
  if (n >= 6 && memcmp (m, "\xfd" "7zXZ\0", 6) == 0)
    return DMEM_XZ;
  if (n >= 4 && m[0] == 0x04 && m[1] == 0x22 && m[2] == 0x4d && m[3] == 0x18)
    return DMEM_LZ4;
  if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
    return DMEM_GZIP;
  if (n >= 3 && memcmp (m, "BZh", 3) == 0)
    return DMEM_BZIP2;
  if (n >= 2 && m[0] == 0x02 && m[1] == 0x21)
    return DMEM_LZ4_LEGACY;
  return DMEM_PLAIN;
}

/* See dmem.h.  */
const char *
dmem_compression_name (enum dmem_compression c)
{
  static const char *const names[] = { "uncompressed", "zstd", "xz", "lz4",
				       "gzip", "bzip2", "legacy lz4" };
  return names[c];
}

/* Refill S's input buffer when it is used up.  Returns -1 on a read error.  */
static int
fill (struct dmem_stream *s)
{
  if (s->in_pos < s->in_len || s->in_eof)
    return 0;
  ssize_t n;
  while ((n = read (s->fd, s->in, IN_SIZE)) < 0 && errno == EINTR)
    ;
  if (n < 0)
    {
      snprintf (s->error, sizeof s->error, "read error: %s", strerror (errno));
      return -1;
    }
  s->in_len = n;
  s->in_pos = 0;
  s->in_eof = n == 0;
  return 0;
}

/* See dmem.h.  */
struct dmem_stream *
dmem_stream_open (int fd, enum dmem_compression kind, char *error,
		  size_t size)
{
  if (kind == DMEM_BZIP2 || kind == DMEM_LZ4_LEGACY)
    {
      snprintf (error, size, "%s compression is not read (zstd, xz, lz4 and "
		"gzip are)", dmem_compression_name (kind));
      return NULL;
    }
  struct dmem_stream *s = dmem_xcalloc (1, sizeof *s);
  s->kind = kind;
  s->fd = fd;
  s->in = dmem_xmalloc (IN_SIZE);
  int ok = 1;
  switch (kind)
    {
    case DMEM_ZSTD:
      s->zstd = ZSTD_createDStream ();
      ok = s->zstd != NULL && !ZSTD_isError (ZSTD_initDStream (s->zstd));
      break;
    case DMEM_XZ:
      s->xz = (lzma_stream) LZMA_STREAM_INIT;
      ok = lzma_stream_decoder (&s->xz, UINT64_MAX, LZMA_CONCATENATED)
	   == LZMA_OK;
      break;
    case DMEM_LZ4:
      ok = !LZ4F_isError (LZ4F_createDecompressionContext (&s->lz4,
							    LZ4F_VERSION));
      break;
    case DMEM_GZIP:
      ok = inflateInit2 (&s->gz, 16 + MAX_WBITS) == Z_OK;
      break;
    default:
      break;
    }
  if (!ok)
    {
      snprintf (error, size, "cannot start the %s decoder",
		dmem_compression_name (kind));
      dmem_stream_close (s);
      return NULL;
    }
  return s;
}

/* See dmem.h.  */
const char *
dmem_stream_error (const struct dmem_stream *s)
{
  return s->error;
}

/* See dmem.h.  */
uint64_t
dmem_stream_consumed (const struct dmem_stream *s)
{
  return s->in_total;
}

/* Decode into BUF (SIZE bytes) from S's current input.  Returns the bytes
   made, -1 on corrupt data; sets s->done at the end of the stream.  */
static ssize_t
decode (struct dmem_stream *s, unsigned char *buf, size_t size)
{
  const unsigned char *in = s->in + s->in_pos;
  size_t avail = s->in_len - s->in_pos, used = 0, made = 0;
  switch (s->kind)
    {
    case DMEM_PLAIN:
      made = avail < size ? avail : size;
      memcpy (buf, in, made);
      used = made;
      break;
    case DMEM_ZSTD:
      {
	ZSTD_inBuffer ib = { in, avail, 0 };
	ZSTD_outBuffer ob = { buf, size, 0 };
	size_t r = ZSTD_decompressStream (s->zstd, &ob, &ib);
	if (ZSTD_isError (r))
	  {
	    snprintf (s->error, sizeof s->error, "corrupt zstd data: %s",
		      ZSTD_getErrorName (r));
	    return -1;
	  }
	used = ib.pos;
	made = ob.pos;
	/* r == 0: a frame ended; another may follow (concatenated).  */
	if (used || made)
	  s->done = r == 0;
	break;
      }
    case DMEM_XZ:
      {
	s->xz.next_in = in;
	s->xz.avail_in = avail;
	s->xz.next_out = buf;
	s->xz.avail_out = size;
	lzma_ret r = lzma_code (&s->xz, s->in_eof ? LZMA_FINISH : LZMA_RUN);
	used = avail - s->xz.avail_in;
	made = size - s->xz.avail_out;
	if (r == LZMA_STREAM_END)
	  s->done = 1;
	else if (used || made)
	  s->done = 0;
	if (r != LZMA_STREAM_END && r != LZMA_OK && r != LZMA_BUF_ERROR)
	  {
	    snprintf (s->error, sizeof s->error, "corrupt xz data (%s)",
		      r == LZMA_DATA_ERROR ? "data error"
		      : r == LZMA_FORMAT_ERROR ? "not an xz stream"
		      : r == LZMA_OPTIONS_ERROR ? "unsupported options"
		      : r == LZMA_MEM_ERROR ? "out of memory" : "liblzma error");
	    return -1;
	  }
	break;
      }
    case DMEM_LZ4:
      {
	size_t out = size, inl = avail;
	size_t r = LZ4F_decompress (s->lz4, buf, &out, in, &inl, NULL);
	if (LZ4F_isError (r))
	  {
	    snprintf (s->error, sizeof s->error, "corrupt lz4 data: %s",
		      LZ4F_getErrorName (r));
	    return -1;
	  }
	used = inl;
	made = out;
	if (used || made)
	  s->done = r == 0;
	break;
      }
    case DMEM_GZIP:
      {
	s->gz.next_in = (unsigned char *) in;
	s->gz.avail_in = avail;
	s->gz.next_out = buf;
	s->gz.avail_out = size;
	int r = inflate (&s->gz, Z_NO_FLUSH);
	used = avail - s->gz.avail_in;
	made = size - s->gz.avail_out;
	if (r == Z_STREAM_END)
	  {
	    s->done = 1;
	    inflateReset (&s->gz);  /* a concatenated member may follow */
	  }
	else if (used || made)
	  s->done = 0;
	if (r != Z_STREAM_END && r != Z_OK && r != Z_BUF_ERROR)
	  {
	    snprintf (s->error, sizeof s->error, "corrupt gzip data: %s",
		      s->gz.msg ? s->gz.msg : "inflate failed");
	    return -1;
	  }
	break;
      }
    default:
      return -1;
    }
  s->in_pos += used;
  s->in_total += used;
  if (made == 0 && used == 0 && s->in_pos < s->in_len)
    {
      snprintf (s->error, sizeof s->error, "corrupt %s data",
		dmem_compression_name (s->kind));
      return -1;
    }
  return made;
}

/* See dmem.h.  */
ssize_t
dmem_stream_read (struct dmem_stream *s, void *buf, size_t size)
{
  size_t got = 0;
  int idle = 0;
  while (got < size)
    {
      if (fill (s) != 0)
	return -1;
      if (s->in_pos == s->in_len && s->in_eof)
	{
	  /* End of the file: the stream must have ended too.  */
	  ssize_t n = s->kind == DMEM_PLAIN ? 0
		      : decode (s, (unsigned char *) buf + got, size - got);
	  if (n < 0)
	    return -1;
	  if (n > 0)
	    {
	      got += n;
	      continue;
	    }
	  if (s->kind != DMEM_PLAIN && !s->done && s->in_total > 0)
	    {
	      snprintf (s->error, sizeof s->error, "truncated %s data "
			"(the file ends inside the stream)",
			dmem_compression_name (s->kind));
	      return -1;
	    }
	  break;
	}
      ssize_t n = decode (s, (unsigned char *) buf + got, size - got);
      if (n < 0)
	return -1;
      got += n;
      /* A decoder that neither takes nor gives is broken input.  */
      idle = n == 0 ? idle + 1 : 0;
      if (idle > 1000000)
	{
	  snprintf (s->error, sizeof s->error, "corrupt %s data",
		    dmem_compression_name (s->kind));
	  return -1;
	}
    }
  return got;
}

/* See dmem.h.  */
void
dmem_stream_close (struct dmem_stream *s)
{
  if (s == NULL)
    return;
  if (s->zstd != NULL)
    ZSTD_freeDStream (s->zstd);
  if (s->kind == DMEM_XZ)
    lzma_end (&s->xz);
  if (s->lz4 != NULL)
    LZ4F_freeDecompressionContext (s->lz4);
  if (s->kind == DMEM_GZIP)
    inflateEnd (&s->gz);
  free (s->in);
  free (s);
}

/* See dmem.h: an unlinked file in $TMPDIR (or /tmp): gone when closed.  */
int
dmem_temp_file (char *error, size_t size)
{
  const char *dir = getenv ("TMPDIR");
  if (dir == NULL || *dir == '\0')
    dir = "/tmp";
  int fd = open (dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  char *path;
  if (asprintf (&path, "%s/dmem-XXXXXX", dir) < 0)
    return -1;
  fd = mkostemp (path, O_CLOEXEC);
  if (fd >= 0)
    unlink (path);
  else
    snprintf (error, size, "cannot make a temporary file in %s: %s", dir,
	      strerror (errno));
  free (path);
  return fd;
}

/* See dmem.h.  */
int
dmem_write_all (int fd, const void *buf, size_t size)
{
  const char *p = buf;
  while (size > 0)
    {
      ssize_t n = write (fd, p, size);
      if (n < 0 && errno == EINTR)
	continue;
      if (n <= 0)
	return -1;
      p += n;
      size -= n;
    }
  return 0;
}
