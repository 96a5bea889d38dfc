"""Catalog-phase benchmark: ``pydump --schema-only`` vs ``pg_dump --schema-only`` on many tables.

Not a test: it prints numbers. It builds, in a fresh database, N tables (default 10,000), each
with a primary key, a foreign key to the previous table, a secondary index, a default and a
comment, then times both tools dumping the schema only, and prints both times, the ratio and
pydump's number of catalog queries (from ``metadata.json``), which must not grow with N.

    .venv/bin/python -m benchmarks.catalog_bench                # 10,000 tables, own throwaway server
    .venv/bin/python -m benchmarks.catalog_bench --tables 10000,50000   # also the 50k row (opt-in: ~10 min)
    .venv/bin/python -m benchmarks.catalog_bench --tables 2000 --kind pg16 --profile   # cProfile of pydump
    .venv/bin/python -m benchmarks.catalog_bench --dsn "host=... dbname=postgres"   # existing server

With ``--dsn`` the database ``catalog_bench`` is created on that server (and dropped after),
and pg_dump comes from ``pg_config --bindir`` (it must be at least as new as the server).
Each size is built on top of the previous one (the 50k database is the 10k one plus 40k
tables), so both rows come from one server; the times must grow about linearly with N. The
own server gets a lock table large enough for both tools to lock every table in one
transaction (``max_locks_per_transaction`` N / 50 × ...): pydump's default mode refuses a dump
that does not fit (README, "Many tables"), and pg_dump would run out of shared memory.
pg_dump is the oracle's (18) when the server is local.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from tests.support import pgtest

BATCH = 500  # tables per transaction: each new relation holds a lock until commit


def build_schema(dsn: str, n: int, start: int = 1) -> float:
    """Tables ``start``..N with PK, FK, index, default and comment; generated server-side in DO blocks."""
    t0 = time.monotonic()
    if start == 1:
        pgtest.run_sql(dsn, "CREATE SCHEMA bench")
    for lo in range(start, n + 1, BATCH):
        hi = min(n, lo + BATCH - 1)
        pgtest.run_sql(
            dsn,
            f"""
            DO $$
            DECLARE sql text := '';
            BEGIN
              FOR i IN {lo}..{hi} LOOP
                sql := sql || format(
                  'CREATE TABLE bench.t%1$s (id integer PRIMARY KEY, ref integer, name text NOT NULL, '
                  'created timestamptz DEFAULT ''2020-01-01'', payload jsonb%2$s);'
                  'CREATE INDEX t%1$s_name ON bench.t%1$s (name);'
                  'COMMENT ON TABLE bench.t%1$s IS %3$L;',
                  i,
                  CASE WHEN i > 1 THEN format(', CONSTRAINT t%s_ref_fk FOREIGN KEY (ref) REFERENCES bench.t%s (id)', i, i - 1)
                       ELSE '' END,
                  'benchmark table ' || i);
              END LOOP;
              EXECUTE sql;
            END
            $$;
            """,
        )
    return time.monotonic() - t0


def time_pydump(dsn: str, out: Path, profile: Path | None = None) -> tuple[float, dict]:
    t0 = time.monotonic()
    pre = ["-m", "cProfile", "-o", str(profile)] if profile else []
    proc = subprocess.run(
        [sys.executable, *pre, "-m", "dumper", dsn, "--schema-only", "--out", str(out), "--no-report", "--json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"pydump failed ({proc.returncode}):\n{proc.stderr}")
    meta = json.loads((Path(json.loads(proc.stdout)["backup_dir"]) / "metadata.json").read_text())
    return elapsed, meta


def time_pg_dump(pg_dump: Path, dsn: str) -> float:
    t0 = time.monotonic()
    proc = subprocess.run([str(pg_dump), "--schema-only", "--no-password", "-f", "/dev/null", "-d", dsn],
                          capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"pg_dump failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed


def pg_config_bindir() -> Path:
    exe = shutil.which("pg_config")
    if exe is None:
        raise SystemExit("--dsn needs pg_config on PATH to find a matching pg_dump")
    return Path(subprocess.run([exe, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default="10000", help="comma-separated sizes, e.g. 10000,50000 (default 10000)")
    ap.add_argument("--profile", action="store_true", help="also run pydump once under cProfile and print the top functions")
    ap.add_argument("--kind", help="server kind from tests/pgtest.py (pg15, pg16); default: the first available")
    ap.add_argument("--dsn", help="use this server instead of starting one")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each tool; the best time is reported")
    args = ap.parse_args(argv)
    sizes = sorted({int(x) for x in str(args.tables).split(",") if x.strip()})

    server = None
    admin_dsn = args.dsn
    tmp = Path(tempfile.mkdtemp(prefix="pydump-catalog-bench-"))
    try:
        if admin_dsn is None:
            kinds = {k.name: k for k in pgtest.available_kinds()}
            if not kinds:
                raise SystemExit("no PostgreSQL server binaries and no pgserver package")
            kind = kinds[args.kind] if args.kind else next(iter(kinds.values()))
            # every table is locked in one transaction by both tools: make room for that
            biggest = max(sizes)
            server = pgtest.start_local(kind, settings={"max_locks_per_transaction": str(max(256, biggest // 40))})
            dsn = server.create_database("catalog_bench")
            pg_dump = server.pg_dump_path
            label = f"{kind.name} (PostgreSQL {kind.version})"
        else:
            pgtest.run_sql(admin_dsn, "CREATE DATABASE catalog_bench TEMPLATE template0")
            from psycopg.conninfo import conninfo_to_dict, make_conninfo

            dsn = make_conninfo(**{**conninfo_to_dict(admin_dsn), "dbname": "catalog_bench"})
            pg_dump = pg_config_bindir() / "pg_dump"
            label = "external server"
        rows = []
        done = 0
        for n in sizes:
            print(f"server: {label}; building {n} tables (PK, FK, index, default, comment) ...", flush=True)
            built = build_schema(dsn, n, done + 1)
            done = n
            pgtest.run_sql(dsn, "ANALYZE")
            print(f"  built in {built:.1f} s", flush=True)
            py_times, pg_times, meta = [], [], {}
            for _ in range(max(1, args.repeat)):
                t, meta = time_pydump(dsn, tmp)
                py_times.append(t)
                pg_times.append(time_pg_dump(pg_dump, dsn))
            py, pg = min(py_times), min(pg_times)
            timings = meta.get("timings", {})
            print(f"  pydump --schema-only : {py:7.2f} s  (catalog {timings.get('catalog_s')} s, locks "
                  f"{timings.get('locks_s')} s, ordering {timings.get('ordering_s')} s, catalog queries "
                  f"{timings.get('catalog_queries')}, entries {meta.get('entries')})", flush=True)
            print(f"  pg_dump --schema-only: {pg:7.2f} s  ({pg_dump})", flush=True)
            rows.append((n, py, pg))
            if args.profile and n == sizes[0]:
                prof = tmp / "pydump.prof"
                time_pydump(dsn, tmp, prof)
                import pstats

                pstats.Stats(str(prof)).sort_stats("tottime").print_stats(20)
        print("\n| tables | pydump -s | pg_dump -s | ratio | pydump s per 1,000 tables |")
        print("|---|---|---|---|---|")
        for n, py, pg in rows:
            print(f"| {n:,} | {py:.2f} s | {pg:.2f} s | {py / pg:.2f} | {py / n * 1000:.2f} |")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if server is not None:
            server.destroy()
        elif admin_dsn is not None:
            try:
                pgtest.run_sql(admin_dsn, "DROP DATABASE IF EXISTS catalog_bench WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the result
                print(f"warning: could not drop catalog_bench: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
