"""Checks of the target server that must pass before a restore changes anything.

Some extensions can only be created where the target *server* is set up for them, and the
replay would find out only at their ``CREATE EXTENSION``, after the schemas, types and
functions before it were already created (a half-restored database to clean up by hand).
Reading the setting first costs one query and turns that into a one-line refusal that names
the setting to change.

pg_cron (issue 17 item 5): the extension lives in exactly one database per server, the one
named by ``cron.database_name`` (a postmaster setting, read when the library is loaded through
``shared_preload_libraries``). Its install script refuses any other database, so a backup of a
pg_cron database restored under another name fails for every tool, pg_dump's included.
"""
from __future__ import annotations

import psycopg
from psycopg.conninfo import make_conninfo

from restore.apply import Selection
from dumper.format.toc import Kind
from restore.backup import Backup
from dumper.errors import ConnectError, ExitCode, RestoreError
from restore.target import connect, database_name


class TargetUnsuitable(RestoreError):
    """The target server is not set up for what the backup creates; nothing was changed.

    Same exit status as ``TargetNotEmpty`` (2): a target the restore must not write into."""

    exit_code = ExitCode.USAGE


def _creates_extension(backup: Backup, selection: Selection, name: str) -> bool:
    """Whether the restore would replay the backup's ``CREATE EXTENSION name`` (toc.json);
    a bare script has no TOC and is not checked."""
    return any(e.kind == Kind.EXTENSION and e.name == name and selection.wants_entry(e) for e in backup.entries)


def pg_cron_problem(setting: str | None, database: str) -> str | None:
    """The reason CREATE EXTENSION pg_cron would fail in ``database`` on a server whose
    ``cron.database_name`` is ``setting`` (None: pg_cron is not loaded), or None when it would work."""
    if setting is None:
        return (f"the backup creates extension pg_cron, which the target server has not loaded: it needs "
                f"shared_preload_libraries = 'pg_cron' and cron.database_name = '{database}' "
                "(postgresql.conf, then a restart); nothing was changed")
    if setting != database:
        return (f"the backup creates extension pg_cron, which lives only in the database named by "
                f"cron.database_name: the target server has cron.database_name = '{setting}', the target "
                f"database is '{database}'; set cron.database_name = '{database}' (postgresql.conf, then a "
                f"restart) or restore into database '{setting}'; nothing was changed")
    return None


def _maintenance_connection(dsn: str) -> psycopg.Connection:
    """A connection to the DSN's server when its database does not exist yet (``--create``)."""
    last: ConnectError | None = None
    for maint in ("postgres", "template1"):
        try:
            return connect(make_conninfo(dsn, dbname=maint), autocommit=True)
        except ConnectError as exc:
            last = exc
    assert last is not None
    raise last


def check_target(dsn: str, backup: Backup, selection: Selection, *, create: bool, clean: bool) -> None:
    """Raise ``TargetUnsuitable`` when the target server cannot hold what the backup creates.

    Runs before ``--create`` makes the database, so it reads the server-wide setting from a
    maintenance connection then. An existing pg_cron in the target (without ``--clean``) is kept
    by the replay's ``CREATE EXTENSION IF NOT EXISTS``, so there is nothing to check."""
    if not _creates_extension(backup, selection, "pg_cron"):
        return
    if create:
        database = database_name(dsn)
        if not database:
            return  # create_database reports the missing name
        conn = _maintenance_connection(dsn)
    else:
        conn = connect(dsn, autocommit=True)
        database = None
    try:
        # pg_settings, not current_setting(): a cron.database_name line in postgresql.conf
        # without the library loaded is only a placeholder, which current_setting() shows and
        # pg_settings does not. The setting is superuser-only: a role that may not read it
        # (a managed platform's) gets no check rather than a false refusal.
        row = conn.execute(
            "SELECT current_database(),"
            " (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'cron.database_name'),"
            " pg_catalog.pg_has_role('pg_read_all_settings', 'USAGE'),"
            " EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron')").fetchone()
    finally:
        conn.close()
    assert row is not None
    current, setting, can_read, installed = row
    if not can_read or (not create and installed and not clean):
        return
    problem = pg_cron_problem(setting or None, database or current)
    if problem:
        raise TargetUnsuitable(problem)
