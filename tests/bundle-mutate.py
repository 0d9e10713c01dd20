"""Damaged copies of a real bundle for the bundle reader's fuzz test.

Usage: bundle-mutate.py BUNDLE DMEM COUNT SEED
  runs `DMEM leaks` on COUNT mutated copies of BUNDLE, each under timeout;
  fails unless every run exits 0 (a warning, a partial result) or 2 with
  its last line on stderr "dmem: ...".  Half the copies damage the tar
  stream inside (headers, sizes, names, order, truncation, member bytes)
  and are compressed again with zstd; the other half damage the compressed
  bytes themselves."""
import os
import random
import subprocess
import sys


def members(tar):
    """(header offset, data size) of each member of tar bytes TAR."""
    out, off = [], 0
    while off + 512 <= len(tar):
        h = tar[off:off + 512]
        if h == bytes(512):
            break
        size = int(h[124:136].strip(b"\0 ") or b"0", 8)
        out.append((off, size))
        off += 512 + (size + 511) // 512 * 512
    return out


def mutate_tar(rng, tar, mem):
    data = bytearray(tar)
    kind = rng.choice(["header-bytes", "size", "name", "order", "truncate",
                       "member-bytes", "no-end", "type"])
    off, size = rng.choice(mem)
    if kind == "header-bytes":
        for _ in range(rng.randint(1, 8)):
            data[off + rng.randrange(512)] = rng.randrange(256)
    elif kind == "size":
        field = rng.choice([b"77777777777", b"00000000000", b"\x80" + bytes(3) + b"\xff" * 8,
                            b"%011o" % rng.randrange(1 << 33)])[:12]
        data[off + 124:off + 124 + len(field)] = field
        fix_checksum(data, off)
    elif kind == "name":
        name = rng.choice([b"core", b"dmem-bundle.json", b"build-id/zz/00",
                           b"build-id/00/", b"build-id/ab/cd.debug",
                           b"../../etc/passwd", b"build-id/" + b"a" * 90])
        data[off:off + 100] = name.ljust(100, b"\0")
        fix_checksum(data, off)
    elif kind == "order" and len(mem) > 1:
        (a, asz), (b, bsz) = mem[0], rng.choice(mem[1:])
        ea = a + 512 + (asz + 511) // 512 * 512
        eb = b + 512 + (bsz + 511) // 512 * 512
        data = data[b:eb] + data[ea:b] + data[a:ea] + data[eb:]
    elif kind == "truncate":
        data = data[:rng.randrange(len(data))]
    elif kind == "member-bytes" and size > 0:
        for _ in range(rng.randint(1, 64)):
            data[off + 512 + rng.randrange(size)] = rng.randrange(256)
    elif kind == "no-end":
        end = mem[-1][0] + 512 + (mem[-1][1] + 511) // 512 * 512
        data = data[:end]
    elif kind == "type":
        data[off + 156] = rng.choice(b"125x g")
        fix_checksum(data, off)
    return kind, bytes(data)


def fix_checksum(data, off):
    """A right checksum, so the reader looks past it."""
    h = data[off:off + 512]
    h[148:156] = b" " * 8
    data[off + 148:off + 156] = b"%06o\0 " % sum(h)


def main():
    bundle, dmem, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    raw = open(bundle, "rb").read()
    tar = subprocess.run(["zstd", "-q", "-d", "-c", bundle], check=True,
                         stdout=subprocess.PIPE).stdout
    mem = members(tar)
    rng = random.Random(seed)
    bad = 0
    for i in range(count):
        if i % 2 == 0:
            kind, t = mutate_tar(rng, tar, mem)
            data = subprocess.run(["zstd", "-q", "-1", "-c"], input=t, check=True,
                                  stdout=subprocess.PIPE).stdout
        else:
            kind = "compressed-bytes"
            data = bytearray(raw)
            if rng.random() < 0.3:
                data = data[:rng.randrange(len(data))]
            else:
                for _ in range(rng.randint(1, 16)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data)
        path = "mutated-%d.dmem" % i
        open(path, "wb").write(data)
        r = subprocess.run(["timeout", "-s", "KILL", "60", dmem, "leaks", path],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = r.stderr.decode(errors="replace").strip().splitlines()
        ok = r.returncode == 0 or (r.returncode == 2 and err
                                   and err[-1].startswith("dmem: "))
        if not ok:
            bad += 1
            print("run %d (%s): exit %d: %s" % (i, kind, r.returncode,
                                                err[-3:] if err else ""))
            os.rename(path, "failed-%d.dmem" % i)
        else:
            os.unlink(path)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
