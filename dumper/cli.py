"""``pydump``: argument parsing and exit codes, nothing else."""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from dumper import __version__
from dumper.categories import load as load_categories
from dumper.connect import resolve_dsn
from dumper.errors import ExitCode, ToolError, UsageError
from dumper.plan import Patterns, Plan
from dumper.redact import check_patterns

EPILOG = """exit codes: 0 ok, 1 internal error, 2 bad options or category file, 3 cannot connect,
4 permission denied, 5 output not writable / disk full, 6 lock timeout, 7 server error
during the dump, 9 catalog value pydump does not know (see --allow-unknown-catalog),
130 interrupted.

The connection comes from DSN, else DATABASE_URL, else libpq's PG* variables, ~/.pgpass and
service files. Passwords never reach any file, log or summary."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pydump",
        description="Back up a PostgreSQL/Supabase database into storage/backups/YYYYMMDD_HHMMSS/ "
        "without pg_dump, psql or Docker.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dsn", nargs="?", help="connection string or URI (default: $DATABASE_URL, then PG* variables)")
    g = p.add_argument_group("categories (the spec's modes)")
    g.add_argument("--prod", action="store_true", help="production mode: essential data only (no transient, no org data)")
    g.add_argument("--no-transient", action="store_true", help="exclude transient data (conversations, tasks, ...)")
    g.add_argument("--no-org-data", action="store_true", help="exclude org-specific data (marketing, legal, ...)")
    g.add_argument("--no-auth", action="store_true", help="exclude the auth schema's data")
    g.add_argument("--no-storage", action="store_true", help="exclude the storage schema's data")
    g.add_argument("--categories", metavar="FILE.toml", help="category map replacing the built-in one")
    g.add_argument("--csv", choices=["critical", "all", "none"], default="critical",
                   help="which tables also get data/<schema>.<table>.csv (default: critical)")
    s = p.add_argument_group("selection (as pg_dump)")
    s.add_argument("-n", "--schema", action="append", default=[], metavar="PATTERN")
    s.add_argument("-N", "--exclude-schema", action="append", default=[], metavar="PATTERN")
    s.add_argument("-t", "--table", action="append", default=[], metavar="PATTERN")
    s.add_argument("-T", "--exclude-table", action="append", default=[], metavar="PATTERN")
    s.add_argument("--exclude-table-data", action="append", default=[], metavar="PATTERN")
    s.add_argument("-s", "--schema-only", action="store_true")
    s.add_argument("-a", "--data-only", action="store_true")
    s.add_argument("-O", "--no-owner", action="store_true")
    s.add_argument("-x", "--no-acl", "--no-privileges", dest="no_acl", action="store_true")
    s.add_argument("--no-comments", action="store_true")
    s.add_argument("--no-publications", action="store_true")
    s.add_argument("--no-subscriptions", action="store_true")
    s.add_argument("--no-security-labels", action="store_true")
    s.add_argument("-B", "--no-large-objects", action="store_true", help="leave large objects out (as pg_dump -B)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default="storage/backups", help="parent directory (default: storage/backups)")
    o.add_argument("--compress", default="gzip", metavar="gzip|zstd|none[:LEVEL]")
    o.add_argument("-j", "--jobs", type=int, default=1)
    o.add_argument("-E", "--encoding", metavar="ENC",
                   help="write the script and CSV files in ENC, converted by the server (default: the database's "
                        "encoding, byte for byte); fails naming the first table and column it cannot convert")
    o.add_argument("--lock-wait-timeout", type=int, metavar="MS", help="give up if a table lock is not granted in MS ms")
    o.add_argument("--lock-batches", action="store_true",
                   help="when the dump's locks do not fit the server's lock table (max_locks_per_transaction), lock "
                        "relations in batches that fit instead of failing, and fail naming any relation changed since "
                        "the snapshot (README, 'Many tables')")
    o.add_argument("--redact-auth", action="store_true",
                   help="replace every auth column not known to hold no secret (dumper/redact_auth.toml) with "
                        "placeholders that keep rows restorable; unknown auth tables and columns are redacted and named")
    o.add_argument("--redact", action="append", default=[], metavar="SCHEMA.TABLE.COLUMN",
                   help="also redact these columns (* wildcards; repeatable), e.g. 'public.api_keys.*'")
    o.add_argument("--skip-unreadable", action="store_true",
                   help="back up without the data of tables the role cannot read (listed as warnings)")
    o.add_argument("--allow-unknown-catalog", action="store_true",
                   help="dump even when a table's kind, a column's generation/identity kind, a constraint type or an "
                        "access method type is a catalog value pydump does not know (listed in metadata.json); "
                        "without it such a dump stops with exit 9")
    o.add_argument("--verify", metavar="BACKUP_DIR", help="verify a backup without a database (= pyrestore --check)")
    o.add_argument("--keep", type=int, metavar="N", help="after success, remove the oldest complete backups beyond N")
    o.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary (errors only)")
    o.add_argument("--debug", action="store_true", help="show tracebacks")
    o.add_argument("--no-report", action="store_true", help="do not record the run in code_ops.artifact_events")
    p.add_argument("--version", action="version", version=f"pydump {__version__}")
    return p


def make_plan(args: argparse.Namespace) -> Plan:
    if args.schema_only and args.data_only:
        raise UsageError("--schema-only and --data-only cannot be used together")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.keep is not None and args.keep < 1:
        raise UsageError("--keep must be at least 1")
    bad_redact = check_patterns(args.redact)
    if bad_redact:
        raise UsageError(f"--redact {bad_redact[0]!r}: name SCHEMA.TABLE.COLUMN (* wildcards allowed)")
    method, _, lvl = args.compress.partition(":")
    if method not in ("gzip", "zstd", "none"):
        raise UsageError(f"--compress must be gzip, zstd or none (optionally :LEVEL), not {args.compress!r}")
    level = None
    if lvl:
        try:
            level = int(lvl)
        except ValueError:
            raise UsageError(f"--compress level must be a number, not {lvl!r}") from None
        limits = {"gzip": (0, 9), "zstd": (1, 22), "none": (0, 0)}[method]
        if not limits[0] <= level <= limits[1]:
            raise UsageError(f"--compress {method} level must be between {limits[0]} and {limits[1]}")
    cats = load_categories(args.categories)
    excluded: set[str] = set()
    flags = {"--no-transient": args.no_transient, "--no-org-data": args.no_org_data,
             "--no-auth": args.no_auth, "--no-storage": args.no_storage}
    for c in cats.categories.values():
        if c.flag and flags.get(c.flag):
            excluded.add(c.name)
        if args.prod and not c.prod:
            excluded.add(c.name)
    for flag, on in flags.items():
        if on and not any(c.flag == flag for c in cats.categories.values()):
            raise UsageError(f"{flag} was given but the category file {cats.source} has no category with flag = \"{flag}\"")
    options = {k: v for k, v in vars(args).items() if k != "dsn"}
    # resolve_dsn checks the DSN before anything connects, reports or prints it (exit 3)
    return Plan(
        dsn=resolve_dsn(args.dsn), out_dir=Path(args.out), categories=cats, excluded_categories=excluded,
        prod=args.prod, csv=args.csv, schema_only=args.schema_only, data_only=args.data_only,
        schemas=Patterns(args.schema, qualified=False), exclude_schemas=Patterns(args.exclude_schema, qualified=False),
        tables=Patterns(args.table), exclude_tables=Patterns(args.exclude_table),
        exclude_table_data=Patterns(args.exclude_table_data), no_owner=args.no_owner, no_acl=args.no_acl,
        no_comments=args.no_comments, no_large_objects=args.no_large_objects,
        no_publications=args.no_publications, no_subscriptions=args.no_subscriptions,
        no_security_labels=args.no_security_labels, compress=method, level=level, jobs=args.jobs, report=not args.no_report,
        lock_wait_timeout_ms=args.lock_wait_timeout, keep=args.keep, redact_auth=args.redact_auth,
        redact_patterns=list(args.redact),
        skip_unreadable=args.skip_unreadable, options=options,
    )


def main(argv: Sequence[str] | None = None) -> int:
    # psycopg logs "error ignored terminating <Copy>" when a connection dies mid-COPY; the
    # user gets our one-line error instead.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    logging.getLogger("psycopg").propagate = False
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verify:
        return verify(args.verify, json=args.json, quiet=args.quiet)
    from dumper.progress import Progress

    def warn(msg: str) -> None:
        if not args.quiet:
            print(f"pydump: warning: {msg}", file=sys.stderr, flush=True)

    try:
        plan = make_plan(args)
        from dumper.backup import run_backup

        result = run_backup(plan, progress=Progress(enabled=not (args.quiet or args.json)), warn=warn)
    except ToolError as e:
        if args.debug:
            raise
        print(f"pydump: error: {e}", file=sys.stderr, flush=True)
        return e.exit_code
    except KeyboardInterrupt:
        print("pydump: error: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as e:  # a bug: say so in one line unless asked for the traceback
        if args.debug:
            raise
        print(f"pydump: internal error: {e.__class__.__name__}: {e} (run with --debug for the traceback)", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.write(result.summary.to_json().decode() + "\n")
    elif not args.quiet:
        sys.stdout.write(result.summary.render())
    sys.stdout.flush()
    return 0


def verify(backup_dir: str, *, json: bool, quiet: bool) -> int:
    """``pydump --verify DIR``: run ``pyrestore --check DIR`` and return its exit status.

    The check is the reader's job, done by the reader's code: a backup is verified exactly as
    pyrestore will read it, never through the writer that may share its bug (an independent
    check of the contract is the point). It runs as a child process (``python -m restore``,
    the same interpreter and installation) because the dumper never imports the restorer:
    the two packages stay independent, joined only by :mod:`dumper.format`.
    """
    cmd = [sys.executable, "-m", "restore", "--check", backup_dir]
    cmd += (["--json"] if json else []) + (["--quiet"] if quiet else [])
    try:
        return subprocess.run(cmd, check=False).returncode
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
