"""Issue 6, security: private files whatever the umask, passwords that never leak, role
password hashes never dumped, hostile names that restore exactly and inject nothing (in SQL
or in the shell scripts), ``--redact-auth`` and ``--skip-unreadable``.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.support import oracle
from tests.support import pgtest
from tests.support.helpers import all_backup_bytes, backup_dir, dump, pydump, run_pyrestore
from dumper.format.names import csv_table_key, split_qualified, table_key
from dumper.redact import auth_rules

PWNED_GLOB = "/tmp/pwned_*"


# --------------------------------------------------------------------------- helpers

def script_text(d: Path) -> str:
    return gzip.decompress((d / "backup.sql.gz").read_bytes()).decode()


def clear_pwned() -> None:
    for p in glob.glob(PWNED_GLOB):
        os.remove(p)


def pwned() -> list[str]:
    return sorted(glob.glob(PWNED_GLOB))


# =========================================================================== permissions

def test_private_permissions_whatever_the_umask(fixture_db, tmp_path):
    db = fixture_db("supabase")
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    proc = dump(db, out, preexec_fn=lambda: os.umask(0))
    d = backup_dir(proc, tmp_path)
    paths = [d, *d.rglob("*")]
    assert any(p.suffix == ".csv" for p in paths), "expected CSV files in data/"
    bad = []
    for p in paths:
        mode = stat.S_IMODE(p.lstat().st_mode)
        if p.is_symlink():
            bad.append(f"{p}: symlink")
        elif p.is_dir():
            if mode != 0o700:
                bad.append(f"{p}: dir {oct(mode)}")
        elif p.name.endswith(".sh"):
            if mode != 0o700:
                bad.append(f"{p}: script {oct(mode)}")
        elif mode != 0o600:
            bad.append(f"{p}: file {oct(mode)}")
    assert not bad, "\n".join(bad)


# =========================================================================== passwords

EVENTS_DDL = """
CREATE SCHEMA code_ops;
CREATE TABLE code_ops.artifact_events (
    id bigserial PRIMARY KEY, run_id uuid, artifact_type text, artifact_name text,
    artifact_version text, event_type text, success boolean, details jsonb,
    created_at timestamptz DEFAULT now());
CREATE TABLE public.t (id int PRIMARY KEY, v text);
INSERT INTO public.t SELECT g, 'v' || g FROM generate_series(1, 50) g;
"""


def _drop_role(server, make_db, name: str) -> None:
    for dbname in make_db.created:
        try:
            with server.connect(dbname) as conn:
                conn.execute(f"DROP OWNED BY {name}")
        except Exception:
            pass
    with server.connect() as conn:
        conn.execute(f"DROP ROLE IF EXISTS {name}")


@pytest.fixture
def pw_role(pg_server, make_db):
    """A superuser login role with a random password, authenticated by scram over TCP."""
    if pg_server.external:
        pytest.skip("needs a local server with password authentication over TCP")
    name = f"pydump_sec_{secrets.token_hex(4)}"
    password = f"Zq{secrets.token_hex(10)}Pw"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'")
        scram = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,)).fetchone()[0]
    assert scram.startswith("SCRAM-SHA-256$")
    yield name, password, scram
    _drop_role(pg_server, make_db, name)


def _events(dsn: str) -> str:
    with pgtest.connect(dsn) as conn:
        rows = conn.execute("SELECT t::text FROM code_ops.artifact_events t ORDER BY id").fetchall()
    return "\n".join(r[0] for r in rows)


def _assert_no_secret(secret: str, where: dict[str, str | bytes]) -> None:
    leaks = []
    for name, text in where.items():
        data = text if isinstance(text, bytes) else text.encode()
        if secret.encode() in data:
            leaks.append(name)
    assert not leaks, f"the password appears in: {leaks}"


@pytest.mark.parametrize("how", ["PGPASSWORD", "PGPASSFILE"])
def test_password_never_leaks(pg_server, make_db, run_sql, pw_role, tmp_path, how):
    user, password, _ = pw_role
    src = make_db("pwsrc")
    run_sql(src, EVENTS_DDL)
    from psycopg.conninfo import conninfo_to_dict

    dbname = conninfo_to_dict(src)["dbname"]
    dsn = pg_server.dsn(dbname, user=user, tcp=True)  # no password in the DSN
    if how == "PGPASSWORD":
        env = {"PGPASSWORD": password}
    else:
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"{pg_server.tcp_host}:{pg_server.port}:*:{user}:{password}\n")
        passfile.chmod(0o600)
        env = {"PGPASSFILE": str(passfile)}
    out = tmp_path / "out"
    proc = dump(dsn, out, report=True, env=env)
    d = backup_dir(proc, tmp_path)
    seen: dict[str, str | bytes] = {f"backup:{k}": v for k, v in all_backup_bytes(d).items()}
    seen.update({"pydump stdout": proc.stdout, "pydump stderr": proc.stderr})
    # a failing run prints the connection problem: still no password
    bad = dump(pg_server.dsn("no_such_db_for_pw", user=user, tcp=True), tmp_path / "out2", env=env)
    assert bad.returncode == 3, bad.stderr
    seen.update({"failed run stderr": bad.stderr, "failed run stdout": bad.stdout})
    # pyrestore of the same backup, password from the same place
    dst = make_db("pwdst")
    dst_dsn = pg_server.dsn(conninfo_to_dict(dst)["dbname"], user=user, tcp=True)
    r = run_pyrestore([str(d), dst_dsn], env, timeout=300)
    assert r.returncode == 0, r.stderr
    seen.update({"pyrestore stdout": r.stdout, "pyrestore stderr": r.stderr})
    seen["source artifact_events"] = _events(src)
    seen["target artifact_events"] = _events(dst)
    assert "completed" in seen["source artifact_events"], "pydump recorded nothing: nothing was checked"
    _assert_no_secret(password, seen)


def test_role_password_hashes_are_never_dumped(pg_server, make_db, run_sql, pw_role, tmp_path):
    user, _, scram = pw_role
    src = make_db("rolepw")
    run_sql(src, f"CREATE TABLE public.owned (id int); ALTER TABLE public.owned OWNER TO {user};"
                 f"GRANT SELECT ON public.owned TO {user};")
    d = pydump(src, tmp_path / "out")
    files = all_backup_bytes(d)
    assert user.encode() in files["backup.sql.gz"], "the role is not even named: nothing was checked"
    for name, data in files.items():
        assert scram.encode() not in data, f"{name} contains the role's password hash"
        assert b"SCRAM-SHA-256$" not in data, f"{name} contains a SCRAM hash"
        assert b"PASSWORD '" not in data.upper(), f"{name} sets a role password"


# =========================================================================== hostile names

HOSTILE_OUT = "out dir $(touch /tmp/pwned_path) `touch /tmp/pwned_pathbt` ; 'q' \"dq\" \\ ü*"


def _restricted_path(tmp_path: Path, server) -> Path:
    """A PATH directory with psql, gzip, bash and the few coreutils the scripts use, and
    nothing else (no pyrestore, so the scripts take their psql branch)."""
    bindir = tmp_path / "onlypsql"
    bindir.mkdir()
    os.symlink(server.psql_path, bindir / "psql")
    for tool in ("gzip", "bash", "dirname", "cat", "env"):
        found = shutil.which(tool)
        assert found, tool
        os.symlink(found, bindir / tool)
    return bindir


def _run_script(script: Path, dsn: str, bindir: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": str(bindir), "HOME": str(tmp_path), "LC_ALL": "C.UTF-8", "PGCONNECT_TIMEOUT": "10",
           "PGTZ": "UTC"}
    return subprocess.run([str(script), dsn], capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL, cwd=str(tmp_path))


@pytest.mark.all_versions
def test_hostile_names_round_trip_and_inject_nothing(fixture_db, make_db, tmp_path):
    clear_pwned()
    src = fixture_db("hostile")
    server = make_db.server
    with pgtest.connect(src) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                              " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                              ).fetchone()[0]
    assert tables >= 10
    out = tmp_path / HOSTILE_OUT
    d = pydump(src, out, cwd=tmp_path)
    assert d.parent == out.resolve()
    assert pwned() == [], "pydump itself ran an injected command"
    for name in ("restore.sh", "restore-full.sh"):
        r = subprocess.run(["bash", "-n", str(d / name)], capture_output=True, text=True)
        assert r.returncode == 0, f"{name} is not valid bash: {r.stderr}"

    # plain psql replay: exactly the same database
    copy = make_db("hostile_psql")
    oracle.psql_replay(server, copy, d / "backup.sql.gz")
    oracle.assert_same_database(server, src, copy)

    # the scripts, with only psql available
    bindir = _restricted_path(tmp_path, server)
    expected = oracle.table_hashes(src)
    for script in ("restore.sh", "restore-full.sh"):
        target = make_db("hostile_" + script.split(".")[0].replace("-", "_"))
        r = _run_script(d / script, target, bindir, tmp_path)
        assert r.returncode == 0, f"{script} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
        assert oracle.table_hashes(target) == expected, f"{script}: the data did not arrive intact"
    assert pwned() == [], f"an injected command ran: {pwned()}"


def test_restore_full_sh_reports_a_count_mismatch(fixture_db, make_db, tmp_path):
    """restore-full.sh's verification is real: a backup whose row_counts.json disagrees
    with its data makes it fail (and the hostile table names do not break its query)."""
    clear_pwned()
    src = fixture_db("hostile")
    d = pydump(src, tmp_path / "out")
    # a table with rows, dropped from the replay: delete its COPY data lines from the script
    text = script_text(d)
    marker = 'COPY public."*" ("?") FROM stdin;\n42\n'
    assert marker in text, "expected the COPY block of public.\"*\""
    (d / "backup.sql.gz").write_bytes(gzip.compress(text.replace(marker, marker[:-3]).encode()))
    target = make_db("hostile_mismatch")
    r = _run_script(d / "restore-full.sh", target, _restricted_path(tmp_path, make_db.server), tmp_path)
    assert r.returncode != 0, "restore-full.sh verified a restore that lost a row"
    assert "mismatch" in r.stderr and '"*"' in r.stderr, r.stderr
    assert pwned() == []


def test_hostile_category_patterns(fixture_db, tmp_path):
    clear_pwned()
    src = fixture_db("hostile")
    cats = tmp_path / "cats.toml"
    cats.write_text(r'''
[core]
label = "Core $(touch /tmp/pwned_label)"
patterns = ["public.*"]
csv = true

["we'ird; $(touch /tmp/pwned_catname) `x`"]
label = "Hostile 'label'; \"dq\" \\ ü"
patterns = [
  "s'; $(touch /tmp/pwned_schema) *\\\"é.*",
  "*.`touch /tmp/pwned_tbt`",
  "*.[",
  "*.[!a-z]*",
  "back\\slash.*",
  "*.new\nline\ttab",
  "ü*.表*",
  "*.*\"*",
  "$(touch /tmp/pwned_catpat).*",
]
csv = true
prod = false
flag = "--no-org-data"
''', encoding="utf-8")
    proc = dump(src, tmp_path / "out", "--categories", str(cats))
    d = backup_dir(proc, tmp_path)
    meta = json.loads((d / "metadata.json").read_text())
    hostile = next(c for c in meta["categories"] if c["name"].startswith("we'ird"))
    # compared as parsed names, so the test does not depend on a copy of the quoting rule
    hostile_table = ("s'; $(touch /tmp/pwned_schema) *\\\"é", "$(touch /tmp/pwned_t)")  # hostile.sql's names
    assert hostile_table in {split_qualified(t) for t in hostile["tables"]}, hostile
    assert "$(touch /tmp/pwned_catpat).*" in meta["unmatched_category_patterns"]
    # its CSVs exist and restore
    assert table_key(*hostile_table) in {csv_table_key(Path(f).name) for f in meta["csv_files"]}, meta["csv_files"]
    # excluding the hostile category by its flag works too
    proc2 = dump(src, tmp_path / "out2", "--categories", str(cats), "--no-org-data")
    d2 = backup_dir(proc2, tmp_path)
    counts = json.loads((d2 / "row_counts.json").read_text())
    assert not any("pwned_t" in k for k in counts), counts
    assert pwned() == []


# =========================================================================== --redact-auth

# Supabase's auth tables, reduced to the columns that matter here, with the real unique
# indexes on token columns (GoTrue migration 20220429102000).
AUTH_DDL = r"""
CREATE SCHEMA auth;
CREATE TABLE auth.users (
    id uuid PRIMARY KEY,
    email varchar(255),
    encrypted_password varchar(255),
    confirmation_token varchar(255),
    recovery_token varchar(255),
    email_change_token_new varchar(255),
    email_change_token_current varchar(255) DEFAULT '',
    phone_change_token varchar(255) DEFAULT '',
    reauthentication_token varchar(255) DEFAULT '',
    raw_user_meta_data jsonb
);
CREATE UNIQUE INDEX confirmation_token_idx ON auth.users (confirmation_token) WHERE confirmation_token !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX recovery_token_idx ON auth.users (recovery_token) WHERE recovery_token !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX email_change_token_current_idx ON auth.users (email_change_token_current) WHERE email_change_token_current !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX email_change_token_new_idx ON auth.users (email_change_token_new) WHERE email_change_token_new !~ '^[0-9 ]*$';
CREATE UNIQUE INDEX reauthentication_token_idx ON auth.users (reauthentication_token) WHERE reauthentication_token !~ '^[0-9 ]*$';
CREATE TABLE auth.sessions (id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    refresh_token_hmac_key text, user_agent text);
CREATE TABLE auth.refresh_tokens (id bigserial PRIMARY KEY, token varchar(255) CONSTRAINT refresh_tokens_token_unique UNIQUE,
    user_id varchar(255), revoked boolean, session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE,
    parent varchar(255));
CREATE TABLE auth.mfa_factors (id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    friendly_name text, secret text);
CREATE TABLE auth.one_time_tokens (id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    token_type text NOT NULL, token_hash text NOT NULL CHECK (char_length(token_hash) > 0), relates_to text NOT NULL);
CREATE UNIQUE INDEX one_time_tokens_token_hash_key ON auth.one_time_tokens (token_hash);
CREATE TABLE auth.flow_state (id uuid PRIMARY KEY, user_id uuid, auth_code text NOT NULL,
    provider_access_token text, provider_refresh_token text, provider_type text NOT NULL);
CREATE INDEX idx_auth_code ON auth.flow_state (auth_code);
CREATE TABLE public.profiles (id uuid PRIMARY KEY REFERENCES auth.users (id), secret_note text);
"""

U = "00000000-0000-4000-8000-00000000000"
AUTH_DATA = rf"""
INSERT INTO auth.users VALUES
 ('{U}1', 'a@example.com', '$2a$10$SECRETpwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'SECRETconfirm1', '', NULL, '', 'SECRETphone1', '', '{{"n": 1}}'),
 ('{U}2', 'b@example.com', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('{U}3', 'c@example.com', '', '', '', '', '', '', '', '{{}}'),
 ('{U}4', 'd@example.com', '$2a$10$SECRETpwBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB', 'SECRETconfirm4', 'SECRETrecover4',
  'SECRETnew4', 'SECRETcurrent4', '123456', 'SECRETreauth4', NULL),
 ('{U}5', 'e@example.com', '$2a$10$SECRETpwCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC', 'SECRETconfirm5', 'SECRETrecover5',
  'SECRETnew5', 'SECRETcurrent5', '654321', 'SECRETreauth5', NULL);
INSERT INTO auth.sessions VALUES
 ('20000000-0000-4000-8000-000000000001', '{U}1', 'SECREThmac1', 'ua 1'),
 ('20000000-0000-4000-8000-000000000002', '{U}4', NULL, 'ua 2'),
 ('20000000-0000-4000-8000-000000000003', '{U}5', '', 'ua 3');
INSERT INTO auth.refresh_tokens (token, user_id, revoked, session_id, parent)
 SELECT 'SECRETrt' || g, '{U}1', g % 2 = 0, '20000000-0000-4000-8000-000000000001', NULL
   FROM generate_series(1, 6) g;
INSERT INTO auth.refresh_tokens (token, user_id, revoked) VALUES (NULL, '{U}2', false), ('', '{U}3', true);
INSERT INTO auth.mfa_factors VALUES
 ('30000000-0000-4000-8000-000000000001', '{U}1', 'phone', 'SECRETtotp1'),
 ('30000000-0000-4000-8000-000000000002', '{U}4', 'app', NULL),
 ('30000000-0000-4000-8000-000000000003', '{U}5', '', '');
INSERT INTO auth.one_time_tokens VALUES
 ('40000000-0000-4000-8000-000000000001', '{U}1', 'confirmation_token', 'SECREToth1', 'a@example.com'),
 ('40000000-0000-4000-8000-000000000002', '{U}4', 'recovery_token', 'SECREToth4', 'd@example.com'),
 ('40000000-0000-4000-8000-000000000003', '{U}5', 'phone_change_token', '5aab32f1b0e7c17e8e6e1a5a3b1d8c0f1d2e3f4a5b6c7d8e9f0a1b2c', '+15550005');
INSERT INTO auth.flow_state VALUES
 ('50000000-0000-4000-8000-000000000001', '{U}1', 'SECRETcode1', 'SECRETpat1', 'SECRETprt1', 'github'),
 ('50000000-0000-4000-8000-000000000002', '{U}4', 'SECRETcode4', NULL, '', 'google'),
 ('50000000-0000-4000-8000-000000000003', NULL, '', '', NULL, 'email');
INSERT INTO public.profiles VALUES ('{U}1', 'not an auth secret');
"""

# table -> (key column, secret columns, unique secret columns)
SECRETS = {
    "auth.users": ("id", ["encrypted_password", "confirmation_token", "recovery_token", "email_change_token_new",
                          "email_change_token_current", "phone_change_token", "reauthentication_token"],
                   ["confirmation_token", "recovery_token", "email_change_token_new", "email_change_token_current",
                    "reauthentication_token"]),
    "auth.sessions": ("id", ["refresh_token_hmac_key"], []),
    "auth.refresh_tokens": ("id", ["token"], ["token"]),
    "auth.mfa_factors": ("id", ["secret"], []),
    "auth.one_time_tokens": ("id", ["token_hash"], ["token_hash"]),
    "auth.flow_state": ("id", ["auth_code", "provider_access_token", "provider_refresh_token"], []),
}


def _rows(dsn: str, table: str, key: str) -> dict:
    with pgtest.connect(dsn) as conn:
        cur = conn.execute(f"SELECT * FROM {table} ORDER BY {key}")
        cols = [c.name for c in cur.description]
        return {str(r[cols.index(key)]): dict(zip(cols, r)) for r in cur.fetchall()}


# one user with every token set, the others NULL or '': no two placeholders can collide
ONE_TOKEN_EACH = f"""
DELETE FROM auth.users WHERE id IN ('{U}4', '{U}5');
UPDATE auth.users SET recovery_token = 'SECRETrecover1', email_change_token_new = 'SECRETnew1',
    email_change_token_current = 'SECRETcurrent1', reauthentication_token = 'SECRETreauth1' WHERE id = '{U}1';
"""


def _auth_backup(run_sql, make_db, tmp_path, *args, extra_sql: str = ""):
    src = make_db("auth")
    run_sql(src, AUTH_DDL + AUTH_DATA + extra_sql)
    proc = dump(src, tmp_path / "out", "--redact-auth", *args)
    return src, backup_dir(proc, tmp_path)


def _secret_values(src: str) -> list[str]:
    vals = []
    for table, (key, cols, _) in SECRETS.items():
        for row in _rows(src, table, key).values():
            vals += [row[c] for c in cols if row[c]]
    return vals


@pytest.mark.parametrize("data", [
    "one-token-each",
    "several-users-with-tokens",
])
def test_redact_auth_replaces_secrets_and_replays(run_sql, make_db, tmp_path, data):
    src, d = _auth_backup(run_sql, make_db, tmp_path, extra_sql=ONE_TOKEN_EACH if data == "one-token-each" else "")
    secrets_ = _secret_values(src)
    assert len(secrets_) > 15
    files = all_backup_bytes(d)
    assert any(k.startswith("data/auth.") for k in files), "expected auth CSVs (critical category)"
    for name, data in files.items():
        assert b"SECRET" not in data, f"{name} still holds a secret"
        for v in secrets_:
            assert v.encode() not in data, f"{name} still holds {v!r}"

    copy = make_db("auth_redacted")
    # the unique indexes, NOT NULL and CHECK constraints of the auth tables accept the placeholders
    oracle.psql_replay(make_db.server, copy, d / "backup.sql.gz")
    for table, (key, cols, unique) in SECRETS.items():
        before, after = _rows(src, table, key), _rows(copy, table, key)
        assert before.keys() == after.keys(), table
        for k, row in before.items():
            new = after[k]
            for c, v in row.items():
                if c not in cols:
                    if table.startswith("auth.") and c not in auth_rules().tables[table[5:]].keep:
                        continue  # redacted too (fail closed): tests/test_redaction.py
                    assert new[c] == v, f"{table}.{c} of {k} changed: {v!r} -> {new[c]!r}"
                elif v is None:
                    assert new[c] is None, f"{table}.{c}: NULL became {new[c]!r}"
                elif v == "":
                    assert new[c] == "", f"{table}.{c}: '' became {new[c]!r}"
                else:
                    assert new[c] not in (None, ""), f"{table}.{c}: a secret became {new[c]!r}"
                    assert v not in new[c], f"{table}.{c}: {new[c]!r} still holds the secret"
        for c in unique:
            vals = [r[c] for r in after.values() if r[c] not in (None, "")]
            assert len(vals) == len(set(vals)), f"{table}.{c}: placeholders are not unique: {vals}"
    meta = json.loads((d / "metadata.json").read_text())
    assert meta["options"].get("redact_auth") is True
    # a redacted password hash lets nobody in
    with pgtest.connect(copy) as conn:
        pw = conn.execute(f"SELECT encrypted_password FROM auth.users WHERE id = '{U}1'").fetchone()[0]
    assert "SECRET" not in pw


def test_redact_auth_placeholders_are_not_derived_from_the_secrets(run_sql, make_db, tmp_path):
    src, d = _auth_backup(run_sql, make_db, tmp_path)
    files = all_backup_bytes(d)
    blob = b"\n".join(files.values())
    for v in _secret_values(src):
        for algo in ("md5", "sha1", "sha224", "sha256"):
            digest = hashlib.new(algo, v.encode()).hexdigest().encode()
            assert digest not in blob, f"the backup holds {algo}({v!r})"


def test_redact_auth_covers_refresh_token_parents(run_sql, make_db, tmp_path):
    src = make_db("auth_chain")
    run_sql(src, AUTH_DDL + AUTH_DATA + "UPDATE auth.refresh_tokens SET parent = 'SECRETrt' || (id - 1)"
                 " WHERE token LIKE 'SECRETrt%' AND id > 1;")
    proc = dump(src, tmp_path / "out", "--redact-auth")
    d = backup_dir(proc, tmp_path)
    for name, data in all_backup_bytes(d).items():
        assert b"SECRETrt" not in data, f"{name} still holds refresh tokens (in refresh_tokens.parent)"
    copy = make_db("auth_chain_copy")
    oracle.psql_replay(make_db.server, copy, d / "backup.sql.gz")
    with pgtest.connect(copy) as conn:
        broken = conn.execute("SELECT count(*) FROM auth.refresh_tokens c WHERE c.parent IS NOT NULL AND NOT EXISTS"
                              " (SELECT 1 FROM auth.refresh_tokens p WHERE p.token = c.parent)").fetchone()[0]
    assert broken == 0, "redaction broke the parent -> token links of refresh token chains"


def test_redact_auth_off_keeps_the_secrets(run_sql, make_db, tmp_path):
    """Control: without --redact-auth the same backup holds the secrets (so the test above
    proves something), and replays exactly."""
    src = make_db("auth_plain")
    run_sql(src, AUTH_DDL + AUTH_DATA)
    d = pydump(src, tmp_path / "out")
    assert b"SECRETconfirm1" in all_backup_bytes(d)["backup.sql.gz"]
    copy = make_db("auth_plain_copy")
    oracle.psql_replay(make_db.server, copy, d / "backup.sql.gz")
    assert oracle.table_hashes(copy) == oracle.table_hashes(src)


# =========================================================================== --skip-unreadable

@pytest.fixture
def reader_role(pg_server, make_db):
    if pg_server.external:
        pytest.skip("needs a local server")
    name = f"pydump_reader_{secrets.token_hex(4)}"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN")
    yield name
    _drop_role(pg_server, make_db, name)


UNREADABLE_DDL = """
CREATE TABLE public.open_t (id int PRIMARY KEY, v text);
INSERT INTO public.open_t VALUES (1, 'a'), (2, 'b');
CREATE TABLE public.secret_t (id int PRIMARY KEY, token text);
INSERT INTO public.secret_t VALUES (1, 'UNREADABLEsecret');
CREATE SCHEMA platform;
CREATE TABLE platform."Vault Keys" (k text);
INSERT INTO platform."Vault Keys" VALUES ('UNREADABLEkey');
CREATE TABLE platform.visible (id int);
INSERT INTO platform.visible VALUES (10);
"""


def test_skip_unreadable(pg_server, make_db, run_sql, reader_role, tmp_path):
    from psycopg.conninfo import conninfo_to_dict

    src = make_db("unreadable")
    run_sql(src, UNREADABLE_DDL + f"""
        GRANT USAGE ON SCHEMA platform TO {reader_role};
        GRANT SELECT ON public.open_t, platform.visible TO {reader_role};
    """)
    dsn = pg_server.dsn(conninfo_to_dict(src)["dbname"], user=reader_role)

    proc = dump(dsn, tmp_path / "out")
    assert proc.returncode == 4, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pydump: error:"), proc.stderr
    # every unreadable table is named (not just the first one found), and the way out
    assert "secret_t" in lines[0] and '"Vault Keys"' in lines[0] and "--skip-unreadable" in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []

    proc = dump(dsn, tmp_path / "out", "--skip-unreadable")
    d = backup_dir(proc, tmp_path)
    summary = json.loads(proc.stdout)
    meta = json.loads((d / "metadata.json").read_text())
    skipped = json.dumps(meta.get("skipped_unreadable"))
    assert "secret_t" in skipped and "Vault Keys" in skipped, meta.get("skipped_unreadable")
    assert "open_t" not in skipped and "visible" not in skipped
    warned = " ".join(summary["warnings"])
    assert "secret_t" in warned and "Vault Keys" in warned, summary["warnings"]
    counts = json.loads((d / "row_counts.json").read_text())
    assert counts.get("public.open_t") == 2 and counts.get("platform.visible") == 1, counts
    assert not any("secret_t" in k or "Vault" in k for k in counts), counts
    for name, data in all_backup_bytes(d).items():
        assert b"UNREADABLE" not in data, name
    # the backup replays (as a superuser) with those tables empty
    copy = make_db("unreadable_copy")
    oracle.psql_replay(make_db.server, copy, d / "backup.sql.gz")
    with pgtest.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM public.open_t").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM public.secret_t").fetchone()[0] == 0


@pytest.mark.parametrize("via", ["psql", "pyrestore"])
def test_carriage_return_in_names_injects_nothing(pg_server, make_db, run_sql, tmp_path, via):
    clear_pwned()
    payload = "\rCOPY (SELECT) TO PROGRAM 'touch /tmp/pwned_cr';--"
    db_name = f"crdb_{secrets.token_hex(3)}\rCREATE TABLE public.injected();--"
    src = pg_server.create_database(db_name)
    try:
        tbl = '"' + payload.replace('"', '""') + '"'
        run_sql(src, f"CREATE TABLE public.{tbl} (id int); INSERT INTO public.{tbl} VALUES (1);")
        d = pydump(src, tmp_path / "out")
        copy = make_db("cr_copy")
        if via == "psql":
            rc, err = oracle.psql_replay(pg_server, copy, d / "backup.sql.gz", check=False)
        else:
            r = run_pyrestore([str(d), copy, "--no-report"], timeout=120)
            rc, err = r.returncode, r.stderr
        assert pwned() == [], "the restore ran a command hidden in a table name"
        assert rc == 0, err
        assert oracle.table_hashes(copy) == oracle.table_hashes(src)
    finally:
        pg_server.drop_database(db_name)
        clear_pwned()
