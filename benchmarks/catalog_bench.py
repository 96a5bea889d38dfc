"""Catalog-phase benchmark: ``pydump --schema-only`` vs ``pg_dump --schema-only`` on many tables.

Not a test: it prints numbers. It builds, in a fresh database, N tables (default 10,000), each
with a primary key, a foreign key to the previous table, a secondary index, a default and a
comment, then times both tools dumping the schema only (pydump also with ``-j2``, which reads a large
catalog on two connections), and prints the times, the ratios and
pydump's number of catalog queries (from ``metadata.json``), which must not grow with N.

    .venv/bin/python -m benchmarks.catalog_bench                # 10,000 tables, own throwaway server
    .venv/bin/python -m benchmarks.catalog_bench --tables 10000,50000   # also the 50k row (opt-in: ~10 min)
    .venv/bin/python -m benchmarks.catalog_bench --tables 2000 --kind pg16 --profile   # cProfile of pydump
    .venv/bin/python -m benchmarks.catalog_bench --dsn "host=... dbname=postgres"   # existing server
    .venv/bin/python -m benchmarks.catalog_bench --tables 10000,50000 --results benchmarks/RESULTS-catalog.md

With ``--dsn`` the database ``catalog_bench`` is created on that server (and dropped after),
and pg_dump comes from ``pg_config --bindir`` (it must be at least as new as the server).
Each size is built on top of the previous one (the 50k database is the 10k one plus 40k
tables), so both rows come from one server; the times must grow about linearly with N. The
own server gets a lock table large enough for both tools to lock every table in one
transaction (``max_locks_per_transaction`` N / 50 × ...): pydump's default mode refuses a dump
that does not fit (README, "Many tables"), and pg_dump would run out of shared memory.
pg_dump is the oracle's (18) when the server is local.

Each size runs both tools ``--repeat`` times (default 3), alternating, and reports the
medians; the ratio is pydump's median over pg_dump's, from the same run. Before timing, the
repository's packages are compiled (checked-hash ``.pyc``, as an installed package has them),
so a session with ``PYTHONDONTWRITEBYTECODE=1`` does not time pydump's own compilation. The
load average is printed with the table: on a shared machine compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


def time_pydump(dsn: str, out: Path, profile: Path | None = None, jobs: int = 1) -> tuple[float, dict]:
    t0 = time.monotonic()
    pre = ["-m", "cProfile", "-o", str(profile)] if profile else []
    proc = subprocess.run(
        [sys.executable, *pre, "-m", "dumper", dsn, "--schema-only", "-j", str(jobs), "--out", str(out),
         "--no-report", "--json"],
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


def compile_sources() -> None:
    """Compile pydump as an install would, so that no run pays for it (see the docstring)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash",
                    str(ROOT / "dumper")], check=True, stdout=subprocess.DEVNULL)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def render(rows: list[tuple[int, float, float, dict[str, Any]]], label: str, pg_dump: Path, repeat: int, loads: str) -> str:
    """The results as Markdown (printed, and written with ``--results``)."""
    lines = [
        f"Server: {label}; pg_dump: {pg_dump}; {os.cpu_count()} cores; {repeat} runs of each tool per size, "
        f"alternating, medians; load average before/after: {loads}.",
        "",
        "| tables | pydump --schema-only | pg_dump -s | ratio | pydump s per 1,000 tables | catalog reads | catalog check + entries + order | catalog queries | pydump -j2 (catalog on two connections) | ratio -j2 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, py, pg, t in rows:
        lines.append(f"| {n:,} | {py:.2f} s | {pg:.2f} s | {py / pg:.2f} | {py / n * 1000:.2f} | "
                     f"{t.get('catalog_s', float('nan')):.2f} s | {t.get('ordering_s', float('nan')):.2f} s | "
                     f"{t.get('catalog_queries', '?')} | {t.get('j2', float('nan')):.2f} s | {t.get('j2', float('nan')) / pg:.2f} |")
    lines += ["", "Every run (pydump/pydump -j2/pg_dump seconds, in the order run): "
              + "; ".join(f"{n:,} tables: {t.get('runs', '')}" for n, _py, _pg, t in rows) + "."]
    return "\n".join(lines) + "\n"


def pg_config_bindir() -> Path:
    exe = shutil.which("pg_config")
    if exe is None:
        raise SystemExit("--dsn needs pg_config on PATH to find a matching pg_dump")
    return Path(subprocess.run([exe, "--bindir"], capture_output=True, text=True, check=True).stdout.strip())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default="10000", help="comma-separated sizes, e.g. 10000,50000 (default 10000)")
    ap.add_argument("--profile", action="store_true", help="also run pydump once under cProfile and print the top functions")
    ap.add_argument("--kind", help="server kind from tests/support/pgtest.py (pg15, pg16); default: the newest available")
    ap.add_argument("--dsn", help="use this server instead of starting one")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each tool per size, alternating; medians are reported")
    ap.add_argument("--results", help="also write the table (Markdown) to this file")
    args = ap.parse_args(argv)
    compile_sources()
    loads = [load_average()]
    sizes = sorted({int(x) for x in str(args.tables).split(",") if x.strip()})

    server = None
    admin_dsn = args.dsn
    tmp = Path(tempfile.mkdtemp(prefix="pydump-catalog-bench-"))
    try:
        if admin_dsn is None:
            kinds = {k.name: k for k in pgtest.available_kinds()}
            if not kinds:
                raise SystemExit("no PostgreSQL server binaries and no pgserver package")
            kind = kinds[args.kind] if args.kind else max(kinds.values(), key=lambda k: k.version)
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
            py_times, j2_times, pg_times, metas = [], [], [], []
            for _ in range(max(1, args.repeat)):
                t, meta = time_pydump(dsn, tmp)
                py_times.append(t)
                metas.append(meta.get("timings", {}))
                j2_times.append(time_pydump(dsn, tmp, jobs=2)[0])  # the catalog on two connections
                pg_times.append(time_pg_dump(pg_dump, dsn))
                print(f"  pydump {t:7.2f} s, -j2 {j2_times[-1]:7.2f} s, pg_dump {pg_times[-1]:7.2f} s  "
                      f"(catalog {metas[-1].get('catalog_s')} s, "
                      f"locks {metas[-1].get('locks_s')} s, check+entries+order {metas[-1].get('ordering_s')} s, "
                      f"{metas[-1].get('catalog_queries')} catalog queries, {meta.get('entries')} entries)", flush=True)
            py, pg = statistics.median(py_times), statistics.median(pg_times)
            timings = {k: statistics.median(m[k] for m in metas) for k in ("catalog_s", "ordering_s", "catalog_queries")
                       if all(k in m for m in metas)}
            timings["runs"] = ", ".join(f"{a:.1f}/{c:.1f}/{b:.1f}" for a, c, b in zip(py_times, j2_times, pg_times))
            timings["j2"] = statistics.median(j2_times)
            rows.append((n, py, pg, timings))
            if args.profile and n == sizes[0]:
                prof = tmp / "pydump.prof"
                time_pydump(dsn, tmp, prof)
                import pstats

                pstats.Stats(str(prof)).sort_stats("tottime").print_stats(20)
        loads.append(load_average())
        table = render(rows, label, pg_dump, max(1, args.repeat), " / ".join(loads))
        print("\n" + table)
        if args.results:
            Path(args.results).write_text(
                "# Catalog benchmark\n\nWritten by `python -m benchmarks.catalog_bench --tables "
                f"{','.join(str(n) for n in sizes)}` (`make bench-catalog`): `pydump --schema-only` against "
                "`pg_dump -s` on N tables, each with a primary key, a foreign key, an index, a default and a "
                "comment.\n\n" + table)
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
