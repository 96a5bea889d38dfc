"""``pydump``: argument parsing and exit codes, nothing else.

Start-up is what a CI job pays on every run (issue 11): this module imports only what parsing
the command line needs (argparse, the exit codes); the category file is read when the parser
is built, the plan, redaction, the dump itself and psycopg once the arguments are parsed, and
a lone ``pydump --version`` answers before any parser is built.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import TYPE_CHECKING, Any, Callable, Sequence

from dumper import __version__
from dumper.errors import ExitCode, OneLineParser, ToolError, UsageError, exit_code_epilog

if TYPE_CHECKING:
    from dumper.categories import CategoryMap
    from dumper.plan import Plan


def load_categories(path: str | None) -> "CategoryMap":
    """:func:`dumper.categories.load`, imported when a parser is built (tomllib, pathlib)."""
    from dumper.categories import load

    return load(path)

EPILOG = exit_code_epilog() + """

Backups go to --out DIR, else $PYDUMP_BACKUP_DIR, else ./storage/backups (pyrestore latest
looks in the same place). The connection comes from DSN, else DATABASE_URL, else libpq's PG*
variables, ~/.pgpass and service files. Passwords never reach any file, log or summary."""


def categories_arg(argv: Sequence[str]) -> str | None:
    """The ``--categories FILE`` of a command line, read before parsing it: the file's flags
    become options of the parser, so the parser cannot be built before the file is known."""
    for i, a in enumerate(argv):
        if a == "--categories" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--categories="):
            return a.split("=", 1)[1]
    return None


_FLAG = re.compile(r"--[a-z0-9][a-z0-9-]*\Z")


def add_category_flags(g: "argparse._ArgumentGroup", maps: Sequence[CategoryMap]) -> None:
    """One ``--no-...`` option per ``flag`` of the category files (the default one's first, so
    ``--help`` shows them; then a ``--categories`` file's own), all collected in
    ``args.category_flags``. A flag that is no option name, or that clashes with one of
    pydump's options, is a usage error naming the file."""
    seen: set[str] = set()
    for cats in maps:
        for c in cats.categories.values():
            if not c.flag or c.flag in seen:
                continue
            if not isinstance(c.flag, str) or not _FLAG.match(c.flag):
                raise UsageError(f"category file {cats.source}: [{c.name}] flag must look like \"--no-name\", not {c.flag!r}")
            seen.add(c.flag)
            try:
                g.add_argument(c.flag, dest="category_flags", action="append_const", const=c.flag,
                               help=f"exclude {c.label} data ({c.description or 'category ' + c.name})"
                               if cats is maps[-1] else argparse.SUPPRESS)
            except argparse.ArgumentError:
                raise UsageError(f"category file {cats.source}: [{c.name}] flag {c.flag} is already a pydump option") from None


def build_parser(categories: CategoryMap | None = None) -> argparse.ArgumentParser:
    """pydump's options; ``categories``: a ``--categories`` file whose flags are options too."""
    p = OneLineParser(
        prog="pydump",
        description="Back up a PostgreSQL/Supabase database into storage/backups/YYYYMMDD_HHMMSS/ "
        "without pg_dump, psql or Docker.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dsn", nargs="?", help="connection string or URI (default: $DATABASE_URL, then PG* variables)")
    g = p.add_argument_group("categories (the spec's modes)")
    g.add_argument("--prod", action="store_true", help="production mode: essential data only (no transient, no org data)")
    add_category_flags(g, [load_categories(None)] + ([categories] if categories is not None else []))
    g.add_argument("--categories", metavar="FILE.toml", help="category map replacing the built-in one")
    g.add_argument("--csv", choices=["critical", "all", "none"], default="critical",
                   help="which tables also get data/<schema>.<table>.csv (default: critical)")
    s = p.add_argument_group("selection (as pg_dump)")
    s.add_argument("-n", "--schema", action="append", default=[], metavar="PATTERN",
                   help="only schemas matching PATTERN (repeatable)")
    s.add_argument("-N", "--exclude-schema", action="append", default=[], metavar="PATTERN")
    s.add_argument("-t", "--table", action="append", default=[], metavar="PATTERN")
    s.add_argument("-T", "--exclude-table", action="append", default=[], metavar="PATTERN")
    s.add_argument("--exclude-table-data", action="append", default=[], metavar="PATTERN")
    s.add_argument("-s", "--schema-only", action="store_true", help="only the definitions, no table data")
    s.add_argument("-a", "--data-only", action="store_true", help="only the table data (and sequence values)")
    s.add_argument("-O", "--no-owner", action="store_true", help="no ALTER ... OWNER TO statements")
    s.add_argument("-x", "--no-acl", "--no-privileges", dest="no_acl", action="store_true",
                   help="no GRANT/REVOKE statements")
    s.add_argument("--no-comments", action="store_true", help="no COMMENT statements")
    s.add_argument("--no-publications", action="store_true", help="leave publications out")
    s.add_argument("--no-subscriptions", action="store_true", help="leave subscriptions out")
    s.add_argument("--no-security-labels", action="store_true", help="leave SECURITY LABEL statements out")
    s.add_argument("-B", "--no-large-objects", action="store_true", help="leave large objects out (as pg_dump -B)")
    o = p.add_argument_group("output")
    o.add_argument("--out", metavar="DIR", default=None,
                   help="parent directory (default: $PYDUMP_BACKUP_DIR, else ./storage/backups)")
    o.add_argument("--compress", default="gzip", metavar="gzip|zstd|none[:LEVEL]")
    o.add_argument("-j", "--jobs", type=int, default=1)
    o.add_argument("-E", "--encoding", metavar="ENC",
                   help="write the script and CSV files in ENC, converted by the server (default: $PGCLIENTENCODING, "
                        "else the database's encoding, byte for byte); fails naming the first table and column it "
                        "cannot convert")
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
    o.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout, on success and on failure (ok, error, exit_code, ...)")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary (errors only)")
    o.add_argument("--debug", action="store_true", help="also print the traceback of a failure (exit codes stay the same)")
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
    from dumper.format import layout
    from dumper.plan import Patterns, Plan
    from dumper.redact import check_patterns

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
    given = set(args.category_flags or [])
    excluded: set[str] = set()
    for c in cats.categories.values():
        if (c.flag and c.flag in given) or (args.prod and not c.prod):
            excluded.add(c.name)
    for flag in sorted(given):
        if not any(c.flag == flag for c in cats.categories.values()):
            raise UsageError(f"{flag} was given but the category file {cats.source} has no category with flag = \"{flag}\"")
    if args.encoding is None:
        # As pg_dump: PGCLIENTENCODING is "another way to get" -E (libpq's 'auto' is no choice).
        env_enc = os.environ.get("PGCLIENTENCODING", "").strip()
        if env_enc and env_enc.lower() != "auto":
            args.encoding = env_enc
    options = {k: v for k, v in vars(args).items() if k != "dsn"}
    options["category_flags"] = sorted(given)
    for c in cats.categories.values():  # metadata.json keeps {"no_auth": true, ...} as before
        if c.flag:
            options[c.flag.lstrip("-").replace("-", "_")] = c.flag in given
    # resolve_dsn checks the DSN before anything connects, reports or prints it (exit 3)
    from dumper.connect import resolve_dsn  # imports psycopg: not before a dump needs it (issue 11)

    return Plan(
        dsn=resolve_dsn(args.dsn), out_dir=layout.backups_dir(args.out), categories=cats, excluded_categories=excluded,
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


class Outcome:
    """What one pydump run produced: the exit status and the object ``--json`` prints (the same
    object :func:`dumper.api.backup` returns), plus the message of a failure for stderr."""

    def __init__(self) -> None:
        self.exit_code: int = ExitCode.OK
        self.data: dict[str, Any] = {"ok": False}
        self.error: str | None = None
        self.summary: Any = None

    def fail(self, code: int, message: str) -> "Outcome":
        self.exit_code, self.error = int(code), message
        self.data.update(ok=False, error=message, exit_code=int(code))
        return self


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse a command line whose ``--categories`` file's flags are options too."""
    path = categories_arg(argv)
    return build_parser(load_categories(path) if path else None).parse_args(list(argv))


def execute(argv: Sequence[str], *, warn: Callable[[str], None], progress: bool, debug: bool = False) -> Outcome:
    """Run pydump on a command line without printing its result: the CLI and the Python API
    share this, so both return the same object and the same exit status. A failure's
    traceback goes to stderr under ``debug`` only; it never changes the status."""
    import logging

    from dumper.format import layout

    # psycopg logs "error ignored terminating <Copy>" when a connection dies mid-COPY; the
    # user gets our one-line error instead.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    logging.getLogger("psycopg").propagate = False
    res = Outcome()
    warnings: list[str] = []
    res.data["warnings"] = warnings

    def warning(msg: str) -> None:
        warnings.append(msg)
        warn(msg)

    try:
        args = parse_args(argv)
        res.data["backup_root"] = str(layout.backups_dir(args.out))
        plan = make_plan(args)
        res.data["mode"] = plan.mode
        from dumper.backup import run_backup
        from dumper.progress import Progress

        result = run_backup(plan, progress=Progress(enabled=progress and not (args.quiet or args.json)), warn=warning)
    except ToolError as e:
        _traceback(debug)
        return res.fail(e.exit_code, e.message)
    except KeyboardInterrupt:
        return res.fail(ExitCode.INTERRUPTED, "interrupted")
    except Exception as e:  # a bug: say so in one line unless asked for the traceback
        _traceback(debug)
        return res.fail(ExitCode.INTERNAL, f"internal error: {e.__class__.__name__}: {e}"
                        + ("" if debug else " (run with --debug for the traceback)"))
    summary = result.summary
    summary.backup_dir = str(result.directory.resolve())
    summary.excluded = excluded_categories(result.metadata)
    res.summary = summary
    res.data = summary.as_dict()
    res.data["exit_code"] = 0
    return res


def excluded_categories(meta: dict[str, Any]) -> list[tuple[str, int]]:
    """(label, tables left out) of each category the run excluded, from metadata.json."""
    return [(c["label"], len(c.get("excluded_tables", []))) for c in meta.get("categories", []) if not c.get("included", True)]


def _traceback(debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: one line on stderr for a failure, one JSON object with --json."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--version"]:  # argparse's answer, without building the parser (start-up, issue 11)
        sys.stdout.write(f"pydump {__version__}\n")
        return 0
    json_out, debug, quiet = "--json" in argv, "--debug" in argv, "-q" in argv or "--quiet" in argv
    verify_dir = _verify_arg(argv)
    if verify_dir is not None:
        return verify(verify_dir, json=json_out, quiet=quiet)

    def warn(msg: str) -> None:
        if not quiet:
            print(f"pydump: warning: {msg}", file=sys.stderr, flush=True)

    res = execute(argv, warn=warn, progress=True, debug=debug)
    if res.error is not None:
        print(f"pydump: error: {res.error}", file=sys.stderr, flush=True)
    if json_out:
        sys.stdout.write(_json_line(res.data))
    elif res.summary is not None and not quiet:
        sys.stdout.write(res.summary.render())
    sys.stdout.flush()
    return res.exit_code


def _verify_arg(argv: Sequence[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--verify" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--verify="):
            return a.split("=", 1)[1]
    return None


def _json_line(data: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(data, default=str).decode() + "\n"


def verify(backup_dir: str, *, json: bool, quiet: bool) -> int:
    """``pydump --verify DIR``: run ``pyrestore --check DIR`` and return its exit status.

    The check is the reader's job, done by the reader's code: a backup is verified exactly as
    pyrestore will read it, never through the writer that may share its bug (an independent
    check of the contract is the point). It runs as a child process (``python -m restore``,
    the same interpreter and installation) because the dumper never imports the restorer:
    the two packages stay independent, joined only by :mod:`dumper.format`.
    """
    import subprocess

    cmd = [sys.executable, "-m", "restore", "--check", backup_dir]
    cmd += (["--json"] if json else []) + (["--quiet"] if quiet else [])
    try:
        return subprocess.run(cmd, check=False).returncode
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
