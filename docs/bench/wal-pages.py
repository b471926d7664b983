#!/usr/bin/env python3
"""Which tables and indexes each commit in a SQLite WAL wrote, page by page.

    docs/bench/wal-pages.py DB WAL [--top N]

DB and WAL are copies of a Latchkey database file and its -wal file,
taken while the server runs: first the file, then its WAL (stopping the
server would checkpoint the WAL away). The WAL is parsed frame by frame:
its current generation only (the frames whose salts match the header's),
up to its last commit. Each page number is attributed to its table or
index with SQLite's dbstat table, read from a scratch copy of DB with WAL
applied, so the copies given are not changed.

Under load the two copies rarely agree exactly: the checkpointer writes
into the database file while it is copied, and the WAL restarts several
times a second. Most pages keep their b-tree, so the figures hold to a
few per cent, and pages that the copy does not place are shown as "?".
The figures in docs/benchmarks.md came from a scratch build that held
the checkpoints off, so that the two copies agreed.

It prints the number of commits, the pages a commit wrote (mean and
median), and for the N b-trees written most (default 25) the pages a
commit wrote of each. Every page a commit dirtied is written to the WAL
and fsynced, and written again into the database file by a checkpoint, so
this is the write amplification of each index (docs/benchmarks.md,
"What a group commit writes, page by page").

Needs Python 3 with its sqlite3 module built with dbstat (Debian's is).
"""

import argparse
import collections
import os
import shutil
import sqlite3
import statistics
import struct
import sys
import tempfile


def die(msg):
    print("wal-pages: " + msg, file=sys.stderr)
    sys.exit(2)


def commits(wal):
    """The page numbers each commit of the WAL's current generation wrote."""
    if len(wal) < 32 or struct.unpack(">I", wal[:4])[0] not in (0x377F0682, 0x377F0683):
        die("not a SQLite WAL file")
    page_size = struct.unpack(">I", wal[8:12])[0]
    salts = wal[16:24]
    out, cur, off = [], [], 32
    while off + 24 + page_size <= len(wal):
        pgno, size = struct.unpack(">II", wal[off : off + 8])
        if wal[off + 8 : off + 16] != salts:
            break  # a frame of an earlier generation: the log ends here
        cur.append(pgno)
        if size:  # a commit frame ends its transaction
            out.append(cur)
            cur = []
        off += 24 + page_size
    return out


def owners(db, wal):
    """Page number -> the name of its table or index."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "copy.db")
        shutil.copyfile(db, path)
        shutil.copyfile(wal, path + "-wal")
        con = sqlite3.connect(path)
        try:
            return dict(con.execute("SELECT pageno, name FROM dbstat"))
        except sqlite3.OperationalError as e:
            die(f"{e} (this Python's SQLite lacks dbstat)")
        finally:
            con.close()


def main():
    ap = argparse.ArgumentParser(description="Pages each commit in a SQLite WAL wrote, by table and index.")
    ap.add_argument("db")
    ap.add_argument("wal")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    with open(a.wal, "rb") as f:
        cs = commits(f.read())
    if not cs:
        die("the WAL holds no complete commit")
    names = owners(a.db, a.wal)
    per = collections.Counter()
    sizes = []
    for c in cs:
        pages = set(c)
        sizes.append(len(pages))
        per.update(names.get(p, "?") for p in pages)
    print(f"{len(cs)} commits; pages a commit: mean {statistics.mean(sizes):.1f}, median {statistics.median(sizes)}")
    for name, n in per.most_common(a.top):
        print(f"  {n / len(cs):6.2f}  {name}")


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        die(f"{e.filename}: {e.strerror}")
