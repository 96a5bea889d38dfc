"""The soak loop: run after run of pydump/pyrestore under faults, each outcome checked.

One server (``pgtest.start_local``, the first selected kind) with a small lock table, one
source database with the writers' schema and a ``many`` schema of filler tables that only
``--lock-batches`` can dump within that lock table. For the whole soak an :class:`AppWriter`,
two :class:`BenchWriter` and a :class:`DdlChurner` run against it. Then, until the time is
up, one scenario after another (a shuffled cycle, so every kind runs in a short soak too):

- ``dump``: ``-j1``/``-j2`` × gzip/zstd, ``--keep 3``, ``--lock-wait-timeout 2000``, default
  mode (``-N many``) or ``--lock-batches`` (half of those with the DDL session paused: under it
  nearly every batched dump fails its end check, correctly, and completes too rarely to verify).
- ``proxy-dump`` / ``proxy-restore``: the same through :class:`FlakyProxy` (drop, stall, slow).
- ``kill-dump``: SIGKILL of pydump at a random moment within a recent successful dump's
  duration, the DDL session paused meanwhile (under it a dump can fail on its own first, and
  the kill would land on nothing); the report counts the kills that landed mid-run.
- ``kill-restore``: SIGKILL of pyrestore mid-restore, with and without ``--single-transaction``.

What every pydump run must do, whatever happened: exit 0 with exactly one new complete backup
(which then passes ``pyrestore --check``, and every second one is restored and must be exactly
one committed state of the writers' log), or exit with a documented code (6, 7; 3 through the
proxy) and one ``pydump: error:`` line, leaving no new complete-looking directory, removing no
complete backup and no ``.partial`` of its own; within its deadline (a hang is a finding).
An exit 1 (a bug), a line that gives an OID instead of naming the object, or a server error only
pydump's own SQL can cause (a syntax error, an unknown ``pg_catalog`` function) is a finding too.
Every violation is a *finding*; a complete backup that fails its check or its restore is
*lost*. The soak passes when there are no findings.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg.conninfo import conninfo_to_dict

from dumper.format import layout
from tests.support import pgtest
from tests.support.helpers import pydump_cmd, pydump_env, pyrestore_cmd
from tests.soak.load import SCHEMA, AppWriter, BenchWriter, DdlChurner, check_restored, filler_schema
from tests.soak.proxy import FlakyProxy

#: A lock table of 20 × 20 = 400 entries: ~190 go to the catalogs, so the 260 filler tables
#: do not fit in one transaction and ``--lock-batches`` really batches.
SERVER_SETTINGS = {"max_locks_per_transaction": "20", "max_connections": "30"}
FILLER_TABLES = 260
#: Seconds of silence on a busy connection before pydump/pyrestore ask the server whether it
#: is still working (dumper/connect.py); short here so a stalled proxy costs seconds.
STALL_S = "4"
DUMP_CODES = {6, 7}  # lock wait timed out / an object changed or vanished under the dump
PROXY_DUMP_CODES = {3, 7}  # cannot connect / connection lost or stalled
PROXY_RESTORE_CODES = {3, 7}
RUN_DEADLINE_S = 120.0
#: A line that gives an object's OID instead of its name: what the user cannot act on (the
#: dumper names the relation from its snapshot catalog read, dumper/backup.py).
OID_ONLY = re.compile(r"(cache lookup failed for relation|could not open relation with OID) \d+")
#: A server error no concurrent session can cause: pydump's own SQL is wrong (exit 7 all the same).
OWN_SQL_BUG = re.compile(r"syntax error|function pg_catalog\.[^\n]* does not exist|operator does not exist")
SCENARIOS = ("dump", "dump", "dump-batches", "proxy-dump", "proxy-restore", "kill-dump", "kill-restore")


@dataclass
class Report:
    """What the soak did and found; :meth:`render` is what ``make soak`` prints."""

    seconds: float = 0.0
    server: str = ""
    runs: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    exits: Counter[str] = field(default_factory=Counter)
    complete: int = 0
    complete_by: Counter[str] = field(default_factory=Counter)  # per scenario
    verified: int = 0
    restores_verified: int = 0
    lost: int = 0
    writer_commits: int = 0
    ddl_statements: int = 0
    findings: list[str] = field(default_factory=list)
    #: kill scenarios: runs, and kills that landed while the tool still ran
    kills: Counter[str] = field(default_factory=Counter)

    def finding(self, text: str) -> None:
        self.findings.append(text)

    def render(self) -> str:
        def fmt(c: Counter[str]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items())) or "none"

        return "\n".join([
            f"soak: {self.seconds:.0f} s on {self.server}",
            f"  runs: {sum(self.runs.values())} ({fmt(self.runs)})",
            f"  faults injected: {sum(self.faults.values())} ({fmt(self.faults)})",
            f"  exit codes: {fmt(self.exits)}",
            f"  backups complete: {self.complete} ({fmt(self.complete_by)})",
            f"  backups verified (pyrestore --check): {self.verified}",
            f"  restores verified (one committed state of the writers' log): {self.restores_verified}",
            f"  concurrent load: {self.writer_commits} writer commits, {self.ddl_statements} DDL statements",
            f"  SIGKILLs landed mid-run: pydump {self.kills['pydump landed']} of {self.kills['pydump']} kill-dump runs,"
            f" pyrestore {self.kills['pyrestore landed']} of {self.kills['pyrestore']} kill-restore runs",
            f"  lost: {self.lost}",
            f"  findings: {len(self.findings)}",
            *[f"    - {f}" for f in self.findings],
        ])


@dataclass
class Proc:
    """A finished (or killed) tool run."""

    code: int | None  # None: it hung and was killed at the deadline
    stdout: str
    stderr: str
    seconds: float


def _run(cmd: list[str], cwd: Path, env: dict[str, str], deadline: float,
         kill_after: float | None = None) -> tuple[Proc, bool]:
    """Run ``cmd``; SIGKILL it after ``kill_after`` s if still running (the fault), or at
    ``deadline`` (a hang). Returns the outcome and whether the fault kill happened."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    killed = False
    try:
        if kill_after is not None:
            try:
                out, err = p.communicate(timeout=kill_after)
                return Proc(p.returncode, out, err, time.monotonic() - t0), False
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                killed = True
        out, err = p.communicate(timeout=deadline)
        return Proc(p.returncode, out, err, time.monotonic() - t0), killed
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return Proc(None, out, err, time.monotonic() - t0), killed


def _last(stderr: str) -> str:
    """The error line of a failed run (its last line: warnings come first), shortened."""
    lines = stderr.strip().splitlines()
    return lines[-1][:400] if lines else ""


def one_error_line(stderr: str, prog: str) -> str | None:
    """None when stderr is exactly one ``PROG: error: ...`` line, else what is wrong."""
    # warnings may come first (--lock-batches announces itself); the error is one line, last
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(f"{prog}: warning: ")]
    if "Traceback" in stderr or len(lines) != 1 or not lines[0].startswith(f"{prog}: error: "):
        return f"not one '{prog}: error:' line: {stderr.strip()[:300]!r}"
    return None


class Soak:
    """One soak: the server, the load, the scenario loop and the report."""

    def __init__(self, seconds: float, seed: int, log: Callable[[str], None]) -> None:
        self.seconds = seconds
        self.rnd = random.Random(seed)
        self.seed = seed
        self.log = log
        self.report = Report()
        self.work = Path(tempfile.mkdtemp(prefix="pydump-soak-"))
        self.out = self.work / "storage" / "backups"  # so `pyrestore latest` run in work/ looks here
        self.out.mkdir(parents=True)
        self.env = pydump_env({"PYDUMP_STALL_TIMEOUT_S": STALL_S})
        self.n = 0
        #: seconds of recent successful runs, per kind ("dump", "dump-batches", "restore"):
        #: a kill is drawn within them, so it lands mid-run on this machine at its current load
        self.took: dict[str, list[float]] = {"dump": [], "dump-batches": [], "restore": []}

    # ------------------------------------------------------------------ setup

    def _start_server(self) -> pgtest.PgServer:
        names = pgtest.selected_kind_names()
        kinds = {k.name: k for k in pgtest.available_kinds()}
        kind = next((kinds[n] for n in names if n in kinds), None)
        if kind is None:
            raise pgtest.ServerUnavailable("no local PostgreSQL server binaries for the soak")
        settings = dict(SERVER_SETTINGS)
        if kind.version >= 18:
            settings["autovacuum_worker_slots"] = "1"
        return pgtest.start_local(kind, settings=settings)

    def run(self) -> Report:
        server = self._start_server()
        self.server = server
        self.report.server = f"{server.name} (PostgreSQL {server.version})"
        sessions: list[AppWriter | BenchWriter | DdlChurner] = []
        try:
            self.src = server.create_database("soak_src")
            pgtest.run_sql(self.src, SCHEMA)
            pgtest.run_sql(self.src, filler_schema(FILLER_TABLES))
            budget = self.seconds + 2 * RUN_DEADLINE_S
            self.ddl = DdlChurner(self.src, self.seed + 3, budget)
            sessions = [AppWriter(self.src, self.seed, budget), BenchWriter(self.src, self.seed + 1, budget),
                        BenchWriter(self.src, self.seed + 2, budget), self.ddl]
            for s in sessions:
                s.start()
            t_end = time.monotonic() + self.seconds
            cycle: list[str] = []
            while time.monotonic() < t_end:
                if not cycle:
                    cycle = list(SCENARIOS)
                    self.rnd.shuffle(cycle)
                scenario = cycle.pop()
                self.n += 1
                self.report.runs[scenario] += 1
                getattr(self, "_" + scenario.replace("-", "_"))()
                for s in sessions:
                    if s.error is not None:
                        self.report.finding(f"harness: {type(s).__name__} died: {s.error!r}")
                        raise RuntimeError(f"{type(s).__name__} died") from s.error
        finally:
            for s in sessions:
                s.stop.set()
            for s in sessions:
                s.join(30)
            self.report.writer_commits = sum(s.commits for s in sessions if not isinstance(s, DdlChurner))
            self.report.ddl_statements = sum(s.commits for s in sessions if isinstance(s, DdlChurner))
            self.report.seconds = self.seconds
            server.destroy()
            shutil.rmtree(self.work, ignore_errors=True)
        return self.report

    # ------------------------------------------------------------------ pydump

    def _dump_args(self, dsn: str, batches: bool) -> list[str]:
        jobs = self.rnd.choice(["1", "2"])
        comp = self.rnd.choice(["gzip", "zstd"])
        args = [dsn, "--out", str(self.out), "--json", "--no-report", "--keep", "3", "-j", jobs,
                "--compress", comp, "--lock-wait-timeout", "2000", "--csv", "none"]
        return args + (["--lock-batches"] if batches else ["-N", "many"])

    def _complete(self) -> set[str]:
        return {p.name for p in layout.list_backups(self.out, named_only=True)}

    def _partials(self) -> set[str]:
        return {n for n in os.listdir(self.out) if n.endswith(".partial")}

    def _pydump(self, args: list[str], allowed: set[int], what: str, kill_after: float | None = None) -> None:
        """One pydump run and every check of its outcome (see the module docstring)."""
        before, partials_before = self._complete(), self._partials()
        proc, killed = _run(pydump_cmd(args), self.work, self.env, RUN_DEADLINE_S, kill_after)
        after, partials_after = self._complete(), self._partials()
        new, removed = after - before, before - after
        if kill_after is not None:
            self.report.kills["pydump"] += 1
        if killed:
            self.report.kills["pydump landed"] += 1
            self.report.faults["sigkill-pydump"] += 1
            self.report.exits["pydump killed"] += 1
            if new:
                self.report.finding(f"{what}: SIGKILLed pydump left a complete-looking backup {sorted(new)}")
            self._after_kill()
            return
        if proc.code is None:
            self.report.exits["pydump hung"] += 1
            self.report.finding(f"{what}: pydump hung past {RUN_DEADLINE_S:.0f} s: {proc.stderr.strip()[-300:]!r}")
            return
        self.report.exits[f"pydump {proc.code}"] += 1
        if proc.code == 0:
            js = json.loads(proc.stdout)
            name = Path(js["backup_dir"]).name
            if new != {name}:
                self.report.finding(f"{what}: exit 0 but new complete backups are {sorted(new)}, not {name}")
                return
            if partials_after:
                self.report.finding(f"{what}: .partial directories left after a successful run: {sorted(partials_after)}")
            if len(after) != min(3, len(before) + 1):
                self.report.finding(f"{what}: --keep 3 left {len(after)} complete backups (had {len(before)})")
            self.report.complete += 1
            self.report.complete_by[what] += 1
            self._took("dump-batches" if "--lock-batches" in args else "dump", proc.seconds)
            self._verify(self.out / name, what)
            return
        bad = one_error_line(proc.stderr, "pydump")
        if proc.code not in allowed:
            self.report.finding(f"{what}: pydump exit {proc.code} (allowed {sorted(allowed)}): {_last(proc.stderr)!r}")
        elif bad:
            self.report.finding(f"{what}: {bad}")
        elif OID_ONLY.search(proc.stderr):
            self.report.finding(f"{what}: the error names an OID, not the object: {_last(proc.stderr)!r}")
        elif OWN_SQL_BUG.search(proc.stderr):
            self.report.finding(f"{what}: pydump sent SQL the server rejects: {_last(proc.stderr)!r}")
        if new:
            self.report.finding(f"{what}: failed run (exit {proc.code}) left a complete-looking backup {sorted(new)}")
        if removed:
            self.report.finding(f"{what}: failed run removed complete backups {sorted(removed)}")
        if partials_after - partials_before:
            self.report.finding(f"{what}: failed run left {sorted(partials_after - partials_before)}")
        self.log(f"  {what}: exit {proc.code}: {_last(proc.stderr)}")

    def _took(self, kind: str, seconds: float) -> None:
        self.took[kind] = (self.took[kind] + [seconds])[-5:]

    def _kill_at(self, kind: str, low: float) -> float:
        """A random moment inside a run of ``kind``: up to 90% of its recent median duration."""
        seen = sorted(self.took[kind])
        typical = seen[len(seen) // 2] if seen else 2.5
        return self.rnd.uniform(low, max(low * 2, 0.9 * typical))

    def _after_kill(self) -> None:
        """After a SIGKILL: `pyrestore --check latest` must find a complete backup (never the
        ``.partial``), and the dead leader's workers must not keep their sessions."""
        if self._complete():
            proc, _ = _run(pyrestore_cmd(["--check", "latest", "--quiet", "--no-report"]), self.work, self.env, 60)
            if proc.code != 0:
                self.report.finding(f"kill-dump: `pyrestore --check latest` after the kill: exit {proc.code}:"
                                    f" {proc.stderr.strip()[:300]!r}")
        if not pgtest.wait_for(lambda: not self._pydump_sessions(), timeout=20, interval=0.2):
            self.report.finding("kill-dump: pydump sessions still connected 20 s after the leader was killed")

    def _pydump_sessions(self) -> list[tuple[int, str]]:
        with psycopg.connect(self.server.dsn("postgres"), connect_timeout=10) as c:
            return c.execute("SELECT pid, application_name FROM pg_stat_activity"
                             " WHERE application_name LIKE 'pydump%%'").fetchall()

    def _verify(self, backup: Path, what: str) -> None:
        proc, _ = _run(pyrestore_cmd(["--check", str(backup), "--quiet", "--no-report"]), self.work, self.env, 120)
        if proc.code != 0:
            self.report.lost += 1
            self.report.finding(f"{what}: pyrestore --check {backup.name}: exit {proc.code}: {proc.stderr.strip()[:300]!r}")
            return
        self.report.verified += 1
        if self.report.complete % 2 == 1:
            self._restore_and_compare(backup, what)

    def _restore_and_compare(self, backup: Path, what: str, extra: list[str] | None = None,
                             dsn: str | None = None) -> None:
        dst = dsn or self._new_db()
        proc, _ = _run(pyrestore_cmd([str(backup), dst, "--quiet", "--no-report", *(extra or [])]),
                       self.work, self.env, RUN_DEADLINE_S)
        if proc.code != 0:
            self.report.lost += 1
            self.report.finding(f"{what}: restore of {backup.name}: exit {proc.code}: {proc.stderr.strip()[:300]!r}")
            return
        if extra is None:
            self._took("restore", proc.seconds)
        ok, detail = check_restored(dst)
        if not ok:
            self.report.lost += 1
            self.report.finding(f"{what}: restored {backup.name} is not one committed state: {detail}")
            return
        self.report.restores_verified += 1
        self.server.drop_database(str(conninfo_to_dict(dst)["dbname"]))

    def _new_db(self) -> str:
        return self.server.create_database(f"soak_r{self.n}_{self.rnd.randrange(10**6)}")

    # ------------------------------------------------------------------ scenarios

    def _dump(self) -> None:
        self._pydump(self._dump_args(self.src, batches=False), DUMP_CODES, "dump")

    def _dump_batches(self) -> None:
        """Half the time with the DDL session paused: under it almost every batched dump ends
        with 'changed during the --lock-batches dump' (its end check), and the batched path's
        complete backups, restored and compared, would be too few."""
        if self.rnd.random() < 0.5:
            self._pydump(self._dump_args(self.src, batches=True), DUMP_CODES, "dump --lock-batches")
            return
        with self.ddl.paused():
            self._pydump(self._dump_args(self.src, batches=True), DUMP_CODES, "dump --lock-batches (DDL paused)")

    def _proxy_dsn(self, proxy: FlakyProxy, dbname: str) -> str:
        return self.server.dsn(dbname, tcp=True, port=proxy.port, connect_timeout=5)

    def _proxy_dump(self) -> None:
        mode = self.rnd.choice(["drop", "stall", "slow"])
        proxy = FlakyProxy(self.server.port, mode, self.rnd.randrange(10**9))
        try:
            dsn = self._proxy_dsn(proxy, "soak_src")
            self._pydump(self._dump_args(dsn, batches=self.rnd.random() < 0.3), DUMP_CODES | PROXY_DUMP_CODES,
                         f"proxy-dump ({mode})")
        finally:
            proxy.close()
        self.report.faults.update({f"network-{k}": v for k, v in proxy.faults.items()})
        if mode == "slow":
            self.report.faults["network-slow"] += 1

    def _latest(self) -> Path | None:
        found = layout.list_backups(self.out, named_only=True)
        return found[-1] if found else None

    def _proxy_restore(self) -> None:
        backup = self._latest()
        if backup is None:
            self._dump()
            return
        mode = self.rnd.choice(["drop", "stall", "slow"])
        single = self.rnd.random() < 0.5
        dbname = f"soak_p{self.n}"
        self.server.create_database(dbname)
        proxy = FlakyProxy(self.server.port, mode, self.rnd.randrange(10**9))
        try:
            args = [str(backup), self._proxy_dsn(proxy, dbname), "--quiet", "--no-report"]
            proc, _ = _run(pyrestore_cmd(args + (["--single-transaction"] if single else [])),
                           self.work, self.env, RUN_DEADLINE_S)
        finally:
            proxy.close()
        self.report.faults.update({f"network-{k}": v for k, v in proxy.faults.items()})
        if mode == "slow":
            self.report.faults["network-slow"] += 1
        what = f"proxy-restore ({mode}{', -1' if single else ''})"
        self.report.exits[f"pyrestore {proc.code if proc.code is not None else 'hung'}"] += 1
        direct = self.server.dsn(dbname)
        if proc.code is None:
            self.report.finding(f"{what}: pyrestore hung past {RUN_DEADLINE_S:.0f} s")
        elif proc.code == 0:
            ok, detail = check_restored(direct)
            if ok:
                self.report.restores_verified += 1
            else:
                self.report.lost += 1
                self.report.finding(f"{what}: exit 0 but not one committed state: {detail}")
        else:
            bad = one_error_line(proc.stderr, "pyrestore")
            if proc.code not in PROXY_RESTORE_CODES or bad:
                self.report.finding(f"{what}: exit {proc.code}: {bad or proc.stderr.strip()[:300]!r}")
            self._recover(backup, dbname, single, what)
        self.server.drop_database(dbname)

    def _recover(self, backup: Path, dbname: str, single: bool, what: str) -> None:
        """After a restore died: with ``-1`` the target holds nothing of the backup; without,
        a re-run with ``--clean`` gives the backup's exact state."""
        direct = self.server.dsn(dbname)
        if single:
            # the server ends the dead client's transaction when it notices the socket closed
            if not pgtest.wait_for(lambda: self._user_relations(direct) == 0, timeout=30, interval=0.2):
                # All or nothing: a kill that landed after the COMMIT (during the verification
                # or the report) leaves all of it, which is the backup's state, not a half.
                ok, _detail = check_restored(direct)
                if ok:
                    self.report.restores_verified += 1
                else:
                    self.report.finding(f"{what}: --single-transaction restore died and left"
                                        f" {self._user_relations(direct)} relations")
            return
        self._wait_no_sessions(dbname)
        self._restore_and_compare(backup, what + " then --clean", ["--clean"], dsn=direct)

    def _wait_no_sessions(self, dbname: str) -> None:
        def none_left() -> bool:
            with psycopg.connect(self.server.dsn("postgres"), connect_timeout=10) as c:
                return not c.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                     (dbname,)).fetchone()
        pgtest.wait_for(none_left, timeout=30, interval=0.2)

    @staticmethod
    def _user_relations(dsn: str) -> int:
        with psycopg.connect(dsn, connect_timeout=10) as c:
            return int(c.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                 " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
                                 " AND n.nspname NOT LIKE 'pg_temp%%' AND n.nspname NOT LIKE 'pg_toast_temp%%'"
                                 ).fetchone()[0])  # type: ignore[index]

    def _kill_dump(self) -> None:
        """SIGKILL of pydump mid-dump. The DDL session is paused: under it a dump may fail on
        its own (exit 7, an object dropped) before the kill, and the kill would test nothing."""
        batches = self.rnd.random() < 0.3
        with self.ddl.paused():
            self._pydump(self._dump_args(self.src, batches=batches), DUMP_CODES, "kill-dump",
                         kill_after=self._kill_at("dump-batches" if batches else "dump", 0.05))

    def _kill_restore(self) -> None:
        backup = self._latest()
        if backup is None:
            self._dump()
            return
        single = self.rnd.random() < 0.5
        dbname = f"soak_k{self.n}"
        dst = self.server.create_database(dbname)
        args = [str(backup), dst, "--quiet", "--no-report"] + (["--single-transaction"] if single else [])
        proc, killed = _run(pyrestore_cmd(args), self.work, self.env, RUN_DEADLINE_S,
                            kill_after=self._kill_at("restore", 0.1))
        what = f"kill-restore{' -1' if single else ''}"
        self.report.kills["pyrestore"] += 1
        if killed:
            self.report.kills["pyrestore landed"] += 1
            self.report.faults["sigkill-pyrestore"] += 1
            self.report.exits["pyrestore killed"] += 1
            self._recover(backup, dbname, single, what)
        elif proc.code == 0:
            self.report.exits["pyrestore 0"] += 1
            self._took("restore", proc.seconds)
            ok, detail = check_restored(dst)
            if ok:
                self.report.restores_verified += 1
            else:
                self.report.lost += 1
                self.report.finding(f"{what}: restored {backup.name} is not one committed state: {detail}")
        else:
            self.report.exits[f"pyrestore {proc.code}"] += 1
            self.report.finding(f"{what}: pyrestore exit {proc.code}: {proc.stderr.strip()[:300]!r}")
        self.server.drop_database(dbname)


def run_soak(seconds: float, seed: int = 14, log: Callable[[str], None] = print) -> Report:
    """Run a soak of about ``seconds`` (the last run may end up to its deadline later)."""
    return Soak(seconds, seed, log).run()
