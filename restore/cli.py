"""``pyrestore`` command line: argument parsing, orchestration of one restore, exit codes.

Exit codes: the one table of both tools, :data:`dumper.errors.EXIT_CODE_MEANINGS` (README
"Exit codes", ``pyrestore --help``): 2 bad options, 3 no connection, 7 a statement failed,
8 verification mismatch, 11 target not empty, 12 unusable backup or failed ``--check``.
"""
from __future__ import annotations

import argparse
import logging
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from restore import __version__
from dumper.errors import (BackupError, ExitCode, OneLineParser, RestoreError, StatementFailed, TargetNotEmpty, ToolError,
                           UsageError, exit_code_epilog)
from dumper.format import layout
from restore.progress import Progress, choose_mode


def _load() -> None:
    """Import what a restore needs, once the arguments are parsed: ``pyrestore --version``,
    ``--help`` and usage errors do not pay for psycopg and the restore machinery (~0.3 s of
    imports; issue 11)."""
    global psycopg, Failure, Replayer, Selection, drop_plan, run_clean, ExistingPolicy, Workers
    global check_target, RoleMapper, bootstrap_role_map, parse_role_map, Kind, Backup, resolve_backup
    global CheckResult, _check_files, check_backup, DataLoader, _first_line, redact_dsn, resolve_dsn
    global RESTORE_ARTIFACT, Reporter, backup_encoding, connect, create_database, foreign_owned_only
    global server_info, user_relations, Mismatch, extension_config_tables, verify_row_counts
    import psycopg
    from restore.apply import Failure, Replayer, Selection
    from restore.clean import drop_plan, run_clean
    from restore.skip_existing import ExistingPolicy
    from restore.parallel import Workers
    from restore.precheck import check_target
    from restore.roles import RoleMapper, bootstrap_role_map, parse_role_map
    from dumper.format.toc import Kind
    from restore.backup import Backup, resolve_backup
    from restore.check import CheckResult, _check_files, check_backup
    from restore.dataload import DataLoader
    from dumper.connect import first_line as _first_line, redact_dsn, resolve_dsn
    from dumper.events import RESTORE_ARTIFACT, Reporter
    from dumper.format.manifest import backup_encoding
    from restore.target import connect, create_database, foreign_owned_only, server_info, user_relations
    from restore.verify import Mismatch, extension_config_tables, verify_row_counts


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="pyrestore",
        description="Restore a pydump backup into a PostgreSQL database (no psql/pg_restore needed).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=exit_code_epilog() + "\n\nBackup: BACKUP_DIR, else the newest complete one under $PYDUMP_BACKUP_DIR, "
        "else ./storage/backups\n(pydump's rule). Target: DSN argument, else DATABASE_URL, else libpq's PG* "
        "variables / ~/.pgpass / service file.")
    p.add_argument("backup", nargs="?", default=None, metavar="BACKUP_DIR|latest",
                   help="backup directory (default: the newest complete one under $PYDUMP_BACKUP_DIR, "
                        "else ./storage/backups/); "
                        "a bare .sql/.sql.gz/.sql.zst script (pg_dump -Fp output) is accepted too")
    p.add_argument("dsn", nargs="?", default=None, metavar="DSN", help="target connection string or URI")
    mode = p.add_argument_group("what to restore")
    mode.add_argument("-a", "--data-only", action="store_true", help="load only table data (and sequence values)")
    mode.add_argument("-s", "--schema-only", action="store_true", help="restore only the schema, no data")
    mode.add_argument("--section", action="append", choices=["pre-data", "data", "post-data"], default=[],
                      help="restore only this section (repeatable)")
    mode.add_argument("-n", "--schema", action="append", default=[], metavar="SCHEMA", help="only objects in this schema (repeatable)")
    mode.add_argument("-t", "--table", action="append", default=[], metavar="TABLE",
                      help="only this table (name or schema.name; repeatable), with its data, indexes, constraints")
    mode.add_argument("--from-csv", action="store_true",
                      help="with --data-only: load each table from its data/<schema>.<table>.csv file, a table "
                           "without one (pydump --csv critical writes CSV only for critical tables) from its COPY "
                           "blocks in the script; all in foreign-key order, partitions included")
    mode.add_argument("--csv-only", action="store_true",
                      help="with --from-csv: skip the tables that have no CSV file (and their sequences) "
                           "instead of loading them from the script")
    mode.add_argument("--no-owner", action="store_true", help="skip ALTER ... OWNER TO statements")
    mode.add_argument("--no-acl", action="store_true", help="skip GRANT/REVOKE (ACL and DEFAULT ACL entries)")
    mode.add_argument("--role-map", action="append", default=[], metavar="OLD=NEW",
                      help="use role NEW wherever the backup names role OLD as owner, grantee, grantor, "
                           "policy role or session authorization (repeatable)")
    how = p.add_argument_group("how")
    how.add_argument("-l", "--list", action="store_true", help="print the table of contents (after selection) and exit")
    how.add_argument("--check", action="store_true", help="verify the backup (checksums, streams, row counts) without a database")
    how.add_argument("-c", "--clean", action="store_true",
                     help="drop the backup's objects from the target first (reverse dependency order, no CASCADE, "
                          "all or nothing); with --data-only: empty the tables before loading")
    how.add_argument("--if-exists", action="store_true", help="with --clean: DROP ... IF EXISTS")
    how.add_argument("-C", "--create", action="store_true",
                     help="create the database named in the DSN (connecting to 'postgres' to do it) in the "
                          "source's encoding and locale; with --clean drop it first if it exists")
    how.add_argument("--skip-existing", action="store_true",
                     help="restore into a target that already has some of the backup's objects (e.g. a Supabase "
                          "project's auth/storage): skip what exists, load data into existing tables, report every "
                          "skip; chosen automatically for a non-superuser whose target's only objects live in "
                          "schemas other roles own")
    how.add_argument("-1", "--single-transaction", action="store_true",
                     help="restore in one transaction: all or nothing")
    how.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                     help="N connections: table data in parallel (with --data-only each table after the tables "
                          "it references), then every post-data entry once the entries it depends on are done "
                          "(1 with --single-transaction)")
    how.add_argument("--force", action="store_true", help="restore even if the backup's checksums do not match")
    how.add_argument("--keep-going", action="store_true", help="continue after a failing statement; exit 7 at the end")
    how.add_argument("--strict", action="store_true", help="with --skip-existing: any skip is an error (exit 7)")
    how.add_argument("--no-verify", action="store_true", help="skip the row-count verification after the restore")
    out = p.add_argument_group("output")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress, no summary; errors only")
    out.add_argument("--json", action="store_true",
                     help="print the result as one JSON object on stdout, on success and on failure (ok, error, exit_code)")
    out.add_argument("--debug", action="store_true",
                     help="also print tracebacks and statement texts on errors (exit codes stay the same)")
    out.add_argument("--no-report", action="store_true", help="do not write code_ops.artifact_events rows")
    out.add_argument("--version", action="version", version=f"pyrestore {__version__}")
    return p


def _looks_like_dsn(s: str) -> bool:
    return "://" in s or "=" in s


def split_positionals(backup: str | None, dsn: str | None) -> tuple[str | None, str | None]:
    """``pyrestore DSN`` alone means: latest backup into DSN (a DSN is never a directory name)."""
    if backup is not None and dsn is None and backup != "latest" and not Path(backup).exists() and _looks_like_dsn(backup):
        return None, backup
    return backup, dsn


class Output:
    """Where messages go: errors always to stderr; info lines unless quiet/json; the result to stdout."""

    def __init__(self, args: argparse.Namespace, *, silent: bool = False) -> None:
        self.quiet = args.quiet or silent
        self.json = args.json
        #: ``silent``: the Python API; nothing is printed, the result is only kept in ``data``
        self.silent = silent
        self.debug = args.debug
        self.progress = Progress(choose_mode(quiet=self.quiet, json_output=args.json or silent))
        #: What is known so far: the --json object, on success and on failure.
        self.data: dict[str, Any] = {}

    def emit(self, result: dict[str, Any]) -> None:
        """Keep the result object; print it under --json."""
        self.data = result
        if self.json and not self.silent:
            print(json.dumps(result, default=str), flush=True)

    def info(self, msg: str) -> None:
        if not self.quiet and not self.json:
            self.progress.line(f"pyrestore: {msg}")

    def warn(self, msg: str) -> None:
        if not self.quiet:
            print(f"pyrestore: warning: {msg}", file=sys.stderr, flush=True)

    def error(self, msg: str) -> None:
        if not self.silent:
            print(f"pyrestore: error: {msg}", file=sys.stderr, flush=True)


def validate(args: argparse.Namespace) -> None:
    """Reject contradictory or unimplemented option combinations before touching anything."""
    if args.data_only and args.schema_only:
        raise UsageError("--data-only and --schema-only exclude each other")
    if args.keep_going and args.single_transaction:
        raise UsageError("--keep-going and --single-transaction exclude each other (one failure aborts the transaction)")
    if args.from_csv and not args.data_only:
        raise UsageError("--from-csv needs --data-only")
    if args.csv_only and not args.from_csv:
        raise UsageError("--csv-only needs --from-csv")
    if args.if_exists and not args.clean:
        raise UsageError("--if-exists needs --clean")
    if args.create and args.data_only:
        raise UsageError("--create needs the schema: it cannot go with --data-only")
    if args.skip_existing and args.data_only:
        raise UsageError("--skip-existing is for restores that create objects; --data-only creates none")
    parse_role_map(args.role_map)
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if args.data_only and args.section and set(args.section) != {"data"}:
        raise UsageError("--data-only restores the data section only; --section contradicts it")


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit status (the caller passes it to ``sys.exit``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    code, _data = execute(argv)
    return code


def execute(argv: Sequence[str], *, silent: bool = False) -> tuple[int, dict[str, Any]]:
    """Run pyrestore on a command line: its exit status and the object ``--json`` prints (the
    same object :func:`restore.api.restore` returns). A failure is one stderr line and, with
    ``--json``, one JSON object (``ok``, ``error``, ``exit_code`` and what is known so far);
    ``--debug`` adds the traceback and never changes the status. ``silent``: print nothing."""
    # psycopg logs "error ignored terminating <Copy>" when a connection dies mid-COPY; the
    # user gets our one-line error instead.
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    logging.getLogger("psycopg").propagate = False
    debug = "--debug" in argv and not silent
    try:
        args = build_parser().parse_args(list(argv))
    except UsageError as exc:
        return _failed(None, exc.exit_code, exc.message, json_out="--json" in argv, silent=silent)
    _load()
    out = Output(args, silent=silent)
    try:
        code = run(args, out)
        return code, out.data
    except ToolError as exc:
        _traceback(debug)
        return _failed(out, exc.exit_code, exc.message, json_out=args.json, silent=silent)
    except KeyboardInterrupt:
        return _failed(out, ExitCode.INTERRUPTED, "interrupted", json_out=args.json, silent=silent)
    except BrokenPipeError:
        return ExitCode.INTERNAL, out.data
    except psycopg.OperationalError as exc:  # the connection was lost (or shut down as stalled) outside a step
        _traceback(debug)
        return _failed(out, ExitCode.SERVER, f"lost the server: {_first_line(exc)}", json_out=args.json, silent=silent)
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback unless --debug
        _traceback(debug)
        return _failed(out, ExitCode.INTERNAL, f"internal error: {exc.__class__.__name__}: {exc}"
                       + ("" if debug else " (rerun with --debug for a traceback)"), json_out=args.json, silent=silent)


def _traceback(debug: bool) -> None:
    if debug:
        traceback.print_exc(file=sys.stderr)


def _failed(out: Output | None, code: int, message: str, *, json_out: bool, silent: bool) -> tuple[int, dict[str, Any]]:
    """The one stderr line of a failure, and its JSON object (what is known so far)."""
    data = {**(out.data if out else {}), "ok": False, "error": message, "exit_code": int(code)}
    if not silent:
        print(f"pyrestore: error: {message}", file=sys.stderr, flush=True)
        if json_out:
            print(json.dumps(data, default=str), flush=True)
    return int(code), data


def run(args: argparse.Namespace, out: Output) -> int:
    validate(args)
    backup_arg, dsn_arg = split_positionals(args.backup, args.dsn)
    backup_path = resolve_backup(backup_arg, layout.backups_dir(None))

    if args.check:
        return do_check(backup_path, out)

    backup = Backup.load(backup_path)
    if backup.bare_script and (args.data_only or args.schema_only or args.section or args.schema or args.table):
        raise UsageError("selection options (--data-only, --schema-only, --section, -n, -t) need a backup directory with toc.json")
    selection = Selection.build(backup, data_only=args.data_only, schema_only=args.schema_only, sections=args.section,
                                schemas=args.schema, tables=args.table, no_owner=args.no_owner, no_acl=args.no_acl)
    if args.table and not selection._table_entry_ids:
        raise UsageError(f"no table in the backup matches {', '.join(args.table)}")
    if args.list:
        return do_list(backup, selection)
    if args.jobs > 1 and args.single_transaction:
        out.warn(f"--jobs {args.jobs}: one transaction lives on one connection; using one connection")
        args.jobs = 1

    if not backup.bare_script and not args.force:
        pre = CheckResult(backup.path)
        _check_files(backup, pre, out.progress)
        if pre.problems:
            raise BackupError(f"backup {backup.path} failed its checksum check: {pre.problems[0]}"
                              + (f" (and {len(pre.problems) - 1} more)" if len(pre.problems) > 1 else "")
                              + "; nothing was changed (see pyrestore --check; --force restores anyway)")

    dsn = resolve_dsn(dsn_arg)
    return do_restore(args, out, backup, selection, dsn)


def do_check(path: Path, out: Output) -> int:
    """``--check``: OK, or one error line naming the first problem (exit 12; all in --json)."""
    res = check_backup(path, out.progress)
    out.data = {**res.as_json(), "exit_code": ExitCode.OK if res.ok else int(BackupError.exit_code)}
    if not res.ok:
        more = f" (and {len(res.problems) - 1} more; --json lists them)" if len(res.problems) > 1 else ""
        raise BackupError(f"{path} failed its check: {res.problems[0]}{more}")
    out.emit(out.data)
    if not out.quiet and not out.json:
        print(f"✅ {path}: backup OK ({res.files_checked} files, {res.bytes_checked} bytes, "
              f"{sum(res.script_rows.values())} rows in the script)")
    return ExitCode.OK


def do_list(backup: Backup, selection: Selection) -> int:
    """pg_restore -l style listing of the entries the selection keeps."""
    print(f";\n; Backup: {backup.path}\n; Script: {backup.script.name}\n; Entries: {len(backup.entries)}\n;")
    for e in backup.entries:
        if not selection.wants_entry(e):
            continue
        extra = f" rows={e.rows}" if e.kind == Kind.TABLE_DATA and e.rows is not None else ""
        print(f"{e.id}; {e.section}; {e.kind} {e.schema or '-'} {e.name} {e.owner or '-'}{extra}")
    return ExitCode.OK


@dataclass
class Loaded:
    """What the full or the data-only path loaded: what the verification and the summary need."""

    rows_by_table: dict[str, int]
    failures: list[Failure] = field(default_factory=list)
    extra_rows: dict[str, int] = field(default_factory=dict)
    #: tables whose data was skipped on purpose (--skip-existing): not verified
    not_loaded: set[str] = field(default_factory=set)


def do_restore(args: argparse.Namespace, out: Output, backup: Backup, selection: Selection, dsn: str) -> int:
    """One restore: check the target, load (full or data-only path), verify, summarise, report."""
    started = time.monotonic()
    target = redact_dsn(dsn)
    check_target(dsn, backup, selection, create=args.create, clean=args.clean)  # before changing anything
    created = (create_database(dsn, drop_first=args.clean, info=out.info, like=backup.metadata.get("server"))
               if args.create else False)
    conn = connect(dsn, autocommit=not args.single_transaction, encoding=backup_encoding(backup.metadata))
    reporter = Reporter(dsn, RESTORE_ARTIFACT, __version__, enabled=not args.no_report, warn=out.warn,
                        application_name="pyrestore-report")
    reporter.probe()  # before anything is restored: only a pre-existing events table gets rows
    mode = "data-only" if args.data_only else "schema-only" if args.schema_only else "full"
    summary: dict[str, Any] = {"backup_dir": str(backup.script if backup.bare_script else backup.path),
                               "target": target, "mode": mode,
                               "single_transaction": args.single_transaction}
    out.data = summary  # what a failure's --json object carries
    ok = False
    try:
        info = server_info(conn)
        summary["server_version_num"] = info.version_num
        # The events table is usually one the backup creates or fills: report only after the restore,
        # so our row cannot collide with the backup's rows (ids), make the target look non-empty,
        # or be dropped by --clean.
        out.info(f"restoring {backup.path} into {target} ({mode}"
                 + (", single transaction" if args.single_transaction else "") + ")")
        if args.data_only:
            loaded = restore_data_only(args, out, conn, backup, selection, dsn, summary)
        else:
            loaded = restore_full(args, out, conn, backup, selection, dsn, info, created, summary)
        if args.single_transaction:
            conn.commit()
        mismatches = _verify(args, conn, backup, selection, loaded.rows_by_table, out, summary, loaded.extra_rows,
                             loaded.not_loaded)
        summary["duration_s"] = round(time.monotonic() - started, 3)
        _finish(out, summary, loaded.failures, mismatches)
        ok = True
        return ExitCode.OK
    except BaseException:
        if args.single_transaction and not conn.closed:
            try:
                conn.rollback()
            except psycopg.Error:
                pass
        raise
    finally:
        conn.close()
        summary.setdefault("duration_s", round(time.monotonic() - started, 3))
        reporter.invoked({"backup_dir": str(backup.path), "mode": mode, "deferred": True})
        reporter.completed(ok, {k: v for k, v in summary.items() if k in
                                ("backup_dir", "mode", "rows", "tables", "statements", "duration_s", "ok")})


def _finish(out: Output, summary: dict[str, Any], failures: list[Failure], mismatches: list[Mismatch]) -> None:
    """Print the summary; raise the run's failure (exit 7 or 8) after it, if any."""
    summary["ok"] = not failures and not mismatches
    _print_summary(out, summary, failures, mismatches)
    if failures:
        raise StatementFailed(f"{len(failures)} statement(s) failed (--keep-going); first: {failures[0].describe()}")
    if mismatches:
        raise _mismatch_error(mismatches)


def restore_data_only(args: argparse.Namespace, out: Output, conn: psycopg.Connection, backup: Backup,
                      selection: Selection, dsn: str, summary: dict[str, Any]) -> Loaded:
    """``--data-only``: rows into the target's existing tables, in foreign-key order."""
    loader = DataLoader(conn, backup, selection, from_csv=args.from_csv, clean=args.clean,
                        progress=out.progress, info=out.info, csv_only=args.csv_only,
                        jobs=args.jobs, dsn=dsn)
    res = loader.run()
    summary.update(rows=res.rows, tables=len(res.tables), fk_strategy=res.strategy, dropped_fks=res.dropped_fks,
                   notes=res.notes)
    if args.from_csv:
        summary["sources"] = res.sources
    if args.jobs > 1:
        summary["jobs"] = args.jobs
    return Loaded(rows_by_table=res.rows_by_table, extra_rows=res.extra_rows)


def restore_full(args: argparse.Namespace, out: Output, conn: psycopg.Connection, backup: Backup,
                 selection: Selection, dsn: str, info: Any, created: bool, summary: dict[str, Any]) -> Loaded:
    """Schema and data: refuse a non-empty target (or clean it, or skip what exists), then replay."""
    policy = _existing_policy(args, out, conn, backup, selection, info, created, summary)

    def on_failure(f: Failure) -> None:
        out.error(f.describe())
        if args.debug:
            print(f.statement, file=sys.stderr)

    explicit = parse_role_map(args.role_map) if args.role_map else {}
    auto_map, note = bootstrap_role_map(conn, backup.metadata, explicit)
    if note:
        out.info(note)
        summary.setdefault("notes", []).append(note)
    role_map = RoleMapper({**explicit, **auto_map}) if explicit or auto_map else None
    workers = Workers(dsn, args.jobs) if args.jobs > 1 else None
    rep = Replayer(conn, backup, selection, keep_going=args.keep_going, on_failure=on_failure,
                   role_map=role_map, policy=policy, workers=workers)
    try:
        ares = rep.run(out.progress)
    finally:
        if workers is not None:
            workers.close()
    for w in ares.warnings:
        out.warn(w)
    if ares.warnings:
        summary["warnings"] = list(ares.warnings)
    if workers is not None:
        summary["jobs"] = args.jobs
    if role_map is not None:
        summary["role_map_statements"] = role_map.rewritten
    not_loaded: set[str] = set()
    if policy is not None:
        summary["skip_existing"] = True
        summary["skipped"] = policy.summary()
        summary["skipped_file"] = write_skip_report(backup, summary["skipped"])
        summary["notes"] = summary.get("notes", []) + policy.notes
        not_loaded = set(policy.skipped_data_tables)
    summary.update(statements=ares.statements, copy_blocks=ares.copy_blocks, rows=ares.rows,
                   skipped_entries=ares.skipped_items, skipped_owner_statements=ares.skipped_owner,
                   failures=[f.describe() for f in ares.failures])
    return Loaded(rows_by_table=ares.rows_by_table, failures=ares.failures, not_loaded=not_loaded)


def _existing_policy(args: argparse.Namespace, out: Output, conn: psycopg.Connection, backup: Backup,
                     selection: Selection, info: Any, created: bool, summary: dict[str, Any]) -> ExistingPolicy | None:
    """What to do with objects the target already has: refuse (exit 11), ``--clean`` them, or
    skip them (``--skip-existing``, automatic on a managed platform); the skip policy or None."""
    existing = user_relations(conn)
    managed = bool(existing) and not info.superuser and foreign_owned_only(conn)
    if existing and not (args.clean or args.skip_existing or managed):
        raise TargetNotEmpty(f"the target database {info.database} is not empty ({', '.join(existing[:5])}"
                             + (" ..." if len(existing) > 5 else "") + "); restore into an empty database, "
                             "or use --clean (drop the backup's objects first) or --skip-existing; "
                             "nothing was changed")
    left_in_place = False
    if args.clean and not created:
        # As a non-superuser (a managed platform's postgres), drop only what this role may
        # drop: the platform's own objects stay, and the replay then skips them.
        res_clean = run_clean(conn, drop_plan(backup, selection, args.if_exists), out.info,
                              owned_only=not info.superuser)
        summary.update(cleaned=res_clean.dropped)
        if res_clean.left:
            summary["clean_left_in_place"] = res_clean.left
            left_in_place = True
    auto = not args.skip_existing and ((managed and not args.clean) or left_in_place)
    if not (args.skip_existing or auto):
        return None
    if auto:
        out.info("the target keeps objects of the backup that belong to other roles (a managed platform "
                 "such as Supabase): restoring with --skip-existing")
    return ExistingPolicy(conn, backup, strict=args.strict)


def _verify(args: argparse.Namespace, conn: psycopg.Connection, backup: Backup, selection: Selection,
            rows_by_table: dict[str, int], out: Output, summary: dict[str, Any],
            extra_rows: dict[str, int] | None = None, not_loaded: set[str] | None = None) -> list[Mismatch]:
    """Row counts vs row_counts.json: all tables for a full restore, the loaded ones for a partial one."""
    if args.no_verify or backup.row_counts is None or args.schema_only or "data" not in selection.sections:
        summary["verified"] = False
        return []
    if args.single_transaction is False and not conn.autocommit:
        conn.commit()
    if not conn.autocommit:
        conn.autocommit = True
    if selection.is_filtered or args.from_csv:
        tables: list[str] | None = list(rows_by_table)
    else:
        tables = None
    if not_loaded:
        tables = [t for t in (tables if tables is not None else backup.row_counts) if t not in not_loaded]
    via_root = {e.table: e.load_via for e in backup.entries if e.table and e.load_via}
    mismatches = verify_row_counts(conn, backup.row_counts, tables, extra_rows, loaded=rows_by_table,
                                   loaded_only=extension_config_tables(backup.entries), via_root=via_root)
    summary["verified"] = True
    summary["verified_tables"] = len(backup.row_counts) if tables is None else len(tables)
    summary["mismatches"] = [m.describe() for m in mismatches]
    return mismatches


def _mismatch_error(mismatches: list[Mismatch]) -> RestoreError:
    names = "; ".join(m.describe() for m in mismatches[:10])
    more = f" (and {len(mismatches) - 10} more)" if len(mismatches) > 10 else ""
    return RestoreError(f"row counts differ from row_counts.json for {len(mismatches)} table(s): {names}{more}",
                        ExitCode.VERIFY_MISMATCH)


def skip_groups(skipped: list[dict[str, Any]]) -> str:
    """``12 TABLE, 40 ACL, ...``: the skip report on a terminal, by kind, largest first.
    A Supabase target skips hundreds of entries; one line per entry buried the few that matter."""
    counts: dict[str, int] = {}
    for sk in skipped:
        counts[sk.get("kind", "statement")] = counts.get(sk.get("kind", "statement"), 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def write_skip_report(backup: Backup, skipped: list[dict[str, Any]]) -> str | None:
    """Write the full skip list beside the backup directory (``<name>.skipped.json``, 0600);
    None when that directory is not writable (a read-only CI artifact): --json has it too."""
    if not skipped or backup.bare_script:
        return None
    path = backup.path.parent / f"{backup.path.name}.skipped.json"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(skipped, fh, indent=1)
    except OSError:
        return None
    return str(path)


def _print_summary(out: Output, s: dict[str, Any], failures: list[Failure], mismatches: list[Mismatch]) -> None:
    """The terminal summary, or (--json, success only) the result object: a failure's object is
    printed once by :func:`execute`, with ``error`` and ``exit_code``."""
    out.data = s
    if out.json or out.quiet:
        if s.get("ok"):
            out.emit({**s, "exit_code": 0})
        return
    icon = "✅" if s.get("ok") else "❌"
    print(f"{icon} Restore {'completed' if s.get('ok') else 'finished with errors'}: {s['backup_dir']} → {s['target']}")
    if "statements" in s:
        print(f"   Statements: {s['statements']}, COPY blocks: {s['copy_blocks']}, rows: {s['rows']}")
    else:
        print(f"   Tables: {s.get('tables', 0)}, rows: {s.get('rows', 0)}")
    for note in s.get("notes", []):
        print(f"   Note: {note}")
    if s.get("verified"):
        if mismatches:
            print(f"   Verification: {len(mismatches)} table(s) differ from row_counts.json")
        else:
            print(f"   Verification: {s.get('verified_tables', 0)} table(s), row counts match")
    if s.get("cleaned") is not None:
        print(f"   --clean: dropped {s['cleaned']} object(s) first")
    skipped = s.get("skipped") or []
    if s.get("skip_existing"):
        print(f"   Skipped (already in the target, or not allowed): {len(skipped)}"
              + (f" ({skip_groups(skipped)})" if skipped else ""))
        if s.get("skipped_file"):
            print(f"   The full list: {s['skipped_file']} (and in --json)")
    if failures:
        print(f"   Failed statements: {len(failures)}")
    print(f"   Duration: {s.get('duration_s', 0):.1f} s")


def entrypoint() -> None:
    """``python -m restore`` / console script wrapper that exits with main()'s status."""
    sys.exit(main())


if __name__ == "__main__":
    entrypoint()
