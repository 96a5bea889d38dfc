"""``--redact-auth`` and ``--redact``: copies of production data without the keys to production accounts.

**Fail closed.** Under ``--redact-auth`` every column of a table in the ``auth`` schema is
redacted unless ``dumper/redact_auth.toml`` lists it as known to hold no secret; a table or a
column that file does not know (a newer GoTrue) is redacted and named in a warning and in
``metadata.json``. JSON columns of a known shape keep only their listed keys. ``--redact
SCHEMA.TABLE.COLUMN`` (``*`` wildcards) adds a user's own columns, e.g. API keys in app tables.

**On the client.** The COPY statement of a redacted table is the plain ``COPY table (cols) TO
STDOUT``: the key that makes placeholders unguessable never leaves this process (a key in the
statement text would land in ``pg_stat_statements``, ``pg_stat_activity`` and the server log,
and with it a 6-digit OTP is recovered from its placeholder in 10⁶ tries). The rows of redacted
tables are rewritten here, field by field, in COPY text format: the one place where pydump looks
at row values, only for those tables (auth tables are small; ~1 µs per redacted field).

**Restorable.** A placeholder keeps its value's class, so every unique and partial unique index
and every CHECK that held on the source holds on the restore:

- NULL stays NULL, '' stays '', a whitespace-only value stays as it is;
- digits (and spaces) stay digits at the same positions, of the same length, through a keyed
  permutation: equal stays equal, distinct stays distinct (GoTrue's ``confirmation_token_idx``
  and its siblings are ``UNIQUE ... WHERE token !~ '^[0-9 ]*$'``: equal numeric OTPs are legal);
- any other text becomes ``redacted-<32 hex of keyed BLAKE2b(value)>`` (cut to a
  ``varchar(n)``), the same function for every column, so ``refresh_tokens.parent`` still
  names its parent's ``token``;
- a password hash becomes a well-formed bcrypt string that no password matches;
- uuid, bytea, integers and numerics get keyed values of the same type and length; JSON keeps
  its listed keys and replaces every other value by one of the same JSON type; an array becomes
  ``{}``; enums, booleans, dates, times and addresses cannot carry a chosen secret and are kept.

The key is 32 random bytes made for one dump and never written anywhere.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from dumper.errors import UsageError
from dumper.format.names import quote_ident

if TYPE_CHECKING:
    from dumper.catalog import Catalog
    from dumper.catalog.relations import Relation
    from dumper.plan import Plan

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

AUTH_SCHEMA = "auth"
AUTH_FILE = Path(__file__).with_name("redact_auth.toml")

# A bcrypt-shaped hash whose salt+hash part uses a character ('!') outside bcrypt's alphabet:
# every verification fails, nothing crashes.
DEAD_BCRYPT = "$2a$10$" + "!" * 53

KEY = secrets.token_bytes(32)  # one per process, i.e. per dump; workers receive it in their task


# ---------------------------------------------------------------------------------------- rules

@dataclass(frozen=True)
class TableRules:
    keep: frozenset[str]
    password: frozenset[str]
    secret: frozenset[str]
    json: Mapping[str, tuple[str, ...]]

    def known(self, column: str) -> bool:
        return column in self.keep or column in self.password or column in self.secret or column in self.json


@dataclass(frozen=True)
class AuthRules:
    checked_against: str
    tables: Mapping[str, TableRules]


def load_auth_rules(path: Path = AUTH_FILE) -> AuthRules:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    tables = {
        name: TableRules(keep=frozenset(t.get("keep", ())), password=frozenset(t.get("password", ())),
                         secret=frozenset(t.get("secret", ())),
                         json={c: tuple(keys) for c, keys in t.get("json", {}).items()})
        for name, t in raw.get("tables", {}).items()
    }
    return AuthRules(checked_against=str(raw.get("checked_against", "")), tables=tables)


_AUTH_RULES: AuthRules | None = None


def auth_rules() -> AuthRules:
    global _AUTH_RULES
    if _AUTH_RULES is None:
        _AUTH_RULES = load_auth_rules()
    return _AUTH_RULES


# ------------------------------------------------------------------------------------- planning

#: Types whose values cannot carry a chosen secret string (a closed set of labels, a flag, an
#: instant, an address): kept even in a redacted column.
_NO_SECRET_TYPES = frozenset({
    "boolean", "date", "interval", "inet", "cidr", "macaddr", "macaddr8", "pg_lsn",
})
_INT_MAX = {"smallint": 2**15 - 1, "integer": 2**31 - 1, "bigint": 2**63 - 1}
_SIZED = re.compile(r"(character varying|character)\((\d+)\)")

#: (method, argument) for one column; method is one of string, password, json, uuid, bytea,
#: int, numeric, array, null.
Method = tuple[str, Any]


@dataclass
class ColumnType:
    """What planning needs of a column: its ``format_type`` text and whether it may be NULL."""

    name: str
    type: str
    notnull: bool


class RedactionError(UsageError):
    """A column that must be redacted has a type pydump can make no placeholder for (exit 2)."""


def _method_for_type(typ: str, types: Mapping[str, tuple[str, str | None]]) -> Method | None:
    """How to redact a value of ``typ``; None when the type cannot carry a secret (kept)."""
    if typ.endswith("[]"):
        return ("array", None)
    base = typ
    for _ in range(10):  # a domain over a domain over ...
        kind, of = types.get(base, ("", None))
        if kind == "e":
            return None  # an enum label: schema-defined, not a secret
        if kind == "d" and of:
            base = of
            if base.endswith("[]"):
                return ("array", None)
            continue
        break
    if base in ("text", "character varying", "bpchar", "name", "citext") or base.endswith(".citext"):
        return ("string", 0)
    if base == "character":
        return ("string", 1)
    m = _SIZED.fullmatch(base)
    if m:
        return ("string", int(m.group(2)))
    if base in ("json", "jsonb"):
        return ("json", None)
    if base in ("uuid", "bytea"):
        return (base, None)
    if base in _INT_MAX:
        return ("int", _INT_MAX[base])
    if base == "numeric" or base.startswith("numeric("):
        return ("numeric", None)
    if base in _NO_SECRET_TYPES or base.startswith(("timestamp", "time")):
        return None
    return ("null", None)


@dataclass
class TableRedaction:
    """The redaction of one table: what metadata.json says, and what the COPY filter does."""

    columns: list[str]  # redacted columns, in COPY order
    spec: list[tuple[int, str, Any]]  # (field index in the COPY row, method, argument)
    unknown: list[str] = field(default_factory=list)  # "auth.t" (a table) or "auth.t.c", never seen

    def filter_spec(self) -> dict[str, Any]:
        """Plain values for :class:`RowRedactor`, so the filter can cross a process boundary
        (to a worker process, over its pipe: the key stays on this machine)."""
        return {"key": KEY, "spec": [list(s) for s in self.spec]}


def plan_table(schema: str, table: str, columns: Sequence[ColumnType], copy_columns: Sequence[str], *,
               auth: bool, patterns: Sequence[str], types: Mapping[str, tuple[str, str | None]]
               ) -> TableRedaction | None:
    """The redaction of ``schema.table``, or None when no column of its COPY needs it.

    Raises :class:`RedactionError` for a NOT NULL column that must be redacted but whose type
    has no placeholder (nullable ones become NULL).
    """
    by_name = {c.name: c for c in columns}
    in_auth = auth and schema == AUTH_SCHEMA
    rules = auth_rules().tables.get(table) if in_auth else None
    out = TableRedaction([], [])
    if in_auth and rules is None:
        out.unknown.append(f"{AUTH_SCHEMA}.{table}")
    for i, name in enumerate(copy_columns):
        col = by_name.get(name)
        typ = col.type if col is not None else "text"
        method: Method | None = None
        wanted = any(fnmatch.fnmatchcase(f"{schema}.{table}.{name}", p) for p in patterns)
        if in_auth:
            if rules is None:
                wanted = True
            elif name in rules.password:
                method = ("password", _method_for_type(typ, types) or ("string", 0))
            elif name in rules.json and _method_for_type(typ, types) == ("json", None):
                method = ("json", list(rules.json[name]))
            elif name not in rules.keep:
                wanted = True
                if not rules.known(name):
                    out.unknown.append(f"{AUTH_SCHEMA}.{table}.{name}")
        if method is None and wanted:
            method = _method_for_type(typ, types)
        if method is None:
            continue
        if method[0] == "null" and col is not None and col.notnull:
            raise RedactionError(
                f"cannot redact {quote_ident(schema)}.{quote_ident(table)}.{quote_ident(name)}: no placeholder for "
                f"type {typ} in a NOT NULL column; leave its data out with --exclude-table-data")
        out.columns.append(name)
        out.spec.append((i, method[0], method[1]))
    return out if out.spec or out.unknown else None


def table_redaction(plan: "Plan", cat: "Catalog", rel: "Relation", copy_columns: Sequence[str]) -> TableRedaction | None:
    """:func:`plan_table` for a catalog relation under the plan's ``--redact-auth``/``--redact``."""
    if not plan.redact_auth and not plan.redact_patterns:
        return None
    types = {t.identity: (t.kind, t.base_type) for t in cat.types}
    cols = [ColumnType(c.name, c.type, c.notnull) for c in rel.columns]
    return plan_table(rel.schema or "", rel.name, cols, copy_columns, auth=plan.redact_auth,
                      patterns=plan.redact_patterns, types=types)


def check_patterns(patterns: Iterable[str]) -> list[str]:
    """``--redact`` patterns: each must name schema, table and column (``a.b.c``, wildcards allowed)."""
    bad = [p for p in patterns if p.count(".") < 2]
    return bad


def unknown_warning(unknown: Sequence[str]) -> str:
    """The warning for auth tables and columns ``redact_auth.toml`` does not know."""
    return (f"--redact-auth: redacted {len(unknown)} auth table(s)/column(s) pydump has never seen "
            f"(allow-list checked against {auth_rules().checked_against}): {', '.join(unknown)}")


# ------------------------------------------------------------------------------------ the filter

_UNESCAPE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}
_ESCAPED = re.compile(rb"\\(.)", re.S)
_DIGITS_SPACES = re.compile(r"[0-9 ]*[0-9][0-9 ]*")
_ROUNDS = 8


def _unescape(field_: bytes) -> bytes:
    """A COPY text field's bytes (COPY TO only ever writes these backslash escapes)."""
    if b"\\" not in field_:
        return field_
    return _ESCAPED.sub(lambda m: _UNESCAPE.get(m.group(1), m.group(1)), field_)


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
            .replace("\b", "\\b").replace("\f", "\\f").replace("\v", "\\v"))


class _Num(str):
    """A JSON number kept as its text (no float rounding)."""


class RowRedactor:
    """Rewrites the redacted fields of COPY text rows; ``__call__`` takes and returns whole rows.

    The server sends one CopyData message per row and the reader joins whole messages, so a
    chunk always ends at a row end; a partial row is kept for the next chunk all the same.
    """

    def __init__(self, key: bytes, codec: str, spec: Sequence[Sequence[Any]]) -> None:
        self.key = key
        self.codec = codec
        self.spec = [(int(i), str(m), a) for i, m, a in spec]
        self._tail = b""

    # -- rows -------------------------------------------------------------------------------
    def __call__(self, chunk: bytes) -> bytes:
        data = self._tail + chunk
        end = data.rfind(b"\n") + 1
        self._tail = data[end:]
        if not end:
            return b""
        lines = data[:end - 1].split(b"\n")
        return b"\n".join(self._row(ln) for ln in lines) + b"\n"

    def finish(self) -> bytes:
        """Whatever is left (nothing, from a real server)."""
        tail, self._tail = self._tail, b""
        return self._row(tail) if tail else b""

    def _row(self, line: bytes) -> bytes:
        fields = line.split(b"\t")
        for i, method, arg in self.spec:
            f = fields[i]
            if f == b"\\N":
                continue  # NULL stays NULL
            raw = _unescape(f).decode(self.codec)
            new = self.value(method, arg, raw)
            if new is None:
                fields[i] = b"\\N"
            elif new != raw:
                fields[i] = _escape(new).encode(self.codec)
        return b"\t".join(fields)

    # -- values -----------------------------------------------------------------------------
    def value(self, method: str, arg: Any, v: str) -> str | None:
        """The placeholder for the non-NULL value ``v`` (its COPY text form)."""
        if method == "string":
            return self.string(v, int(arg or 0))
        if method == "password":
            if v.strip() == "":
                return v
            inner = tuple(arg)
            return DEAD_BCRYPT if inner[0] == "string" else self.value(inner[0], inner[1], v)
        if method == "json":
            return self.json(v, arg)
        if method == "uuid":
            h = self._mac(b"u", v.lower().encode()).hex()
            return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        if method == "bytea":
            return self.bytea(v)
        if method == "int":
            return self.integer(v, int(arg))
        if method == "numeric":
            return self.numeric(v)
        if method == "array":
            return "{}"
        return None  # "null": no placeholder of this type exists

    def string(self, v: str, maxlen: int = 0) -> str:
        if v.strip() == "":
            return v  # '' and whitespace-only: no secret, and GoTrue's indexes exempt them
        if _DIGITS_SPACES.fullmatch(v):
            digits = self._digits("".join(ch for ch in v if ch != " "))
            it = iter(digits)
            return "".join(ch if ch == " " else next(it) for ch in v)
        h = self._mac(b"s", v.encode("utf-8")).hex()[:32]
        text = "redacted-" + h
        if maxlen and len(text) > maxlen:
            text = h[:maxlen]
        return text

    def bytea(self, v: str) -> str:
        if not v.startswith("\\x") or len(v) <= 2:
            return v if len(v) <= 2 else "\\x"
        n = (len(v) - 2) // 2
        out = b""
        block = 0
        while len(out) < n:
            out += self._mac(b"b", block.to_bytes(4, "big") + v.encode())
            block += 1
        return "\\x" + out[:n].hex()

    def integer(self, v: str, limit: int) -> str:
        neg = v.startswith("-")
        d = v[1:] if neg else v
        if not d.isdigit():
            return v
        cap = limit + 1 if neg else limit
        return ("-" if neg else "") + self._digits(d, lambda x: (len(x) == 1 or x[0] != "0") and int(x) <= cap)

    def numeric(self, v: str) -> str:
        if not any(ch.isdigit() for ch in v) or "e" in v.lower():
            return v  # NaN, Infinity
        intlen = len(v.split(".")[0].lstrip("-"))
        d = "".join(ch for ch in v if ch.isdigit())
        new = iter(self._digits(d, lambda x: intlen <= 1 or x[0] != "0"))
        return "".join(next(new) if ch.isdigit() else ch for ch in v)

    def json(self, v: str, keep: Sequence[str] | None) -> str:
        try:
            doc = json.loads(v, parse_float=_Num, parse_int=_Num)
        except ValueError:
            return self.string(v)
        if keep is not None and isinstance(doc, dict):
            allowed = set(keep)
            doc = {k: (x if k in allowed else self._json_whole(x)) for k, x in doc.items()}
        else:
            doc = self._json_whole(doc)
        return _dump_json(doc)

    def _json_whole(self, x: Any) -> Any:
        """A JSON value of the same JSON type that holds nothing of ``x``."""
        if isinstance(x, dict):
            return {}
        if isinstance(x, list):
            return []
        if isinstance(x, _Num):
            d = x.lstrip("-")
            return _Num(("-" if x.startswith("-") else "") + self._digits(d, lambda s: len(s) == 1 or s[0] != "0")
                        ) if d.isdigit() else _Num("0")
        if isinstance(x, str):
            return self.string(x)
        return x  # true, false, null

    # -- keyed functions --------------------------------------------------------------------
    def _mac(self, tag: bytes, data: bytes) -> bytes:
        """Keyed BLAKE2b (a PRF; ~1 µs, a quarter of HMAC-SHA256's cost in Python), domain-separated by ``tag``."""
        return hashlib.blake2b(data, key=self.key, person=tag, digest_size=32).digest()

    def _digits(self, d: str, ok: Callable[[str], bool] | None = None) -> str:
        """A keyed permutation of the strings of ``len(d)`` digits (a Feistel network on the
        two halves, mod 10^k), walked until ``ok`` holds: a bijection on the strings that
        satisfy ``ok`` (``d`` itself must), so distinct inputs never collide."""
        x = d
        while True:
            x = self._feistel(x)
            if ok is None or ok(x):
                return x

    def _feistel(self, d: str) -> str:
        n = len(d)
        u = n // 2
        v = n - u
        a = int(d[:u]) if u else 0
        b = int(d[u:])
        mu, mv = 10 ** u, 10 ** v
        for r in range(_ROUNDS):
            if r % 2 == 0 and u:
                a = (a + self._round(n, r, b)) % mu
            else:
                b = (b + self._round(n, r, a)) % mv
        return (str(a).zfill(u) if u else "") + str(b).zfill(v)

    def _round(self, n: int, r: int, x: int) -> int:
        return int.from_bytes(self._mac(b"d", f"{n}:{r}:{x}".encode()), "big")


def _dump_json(x: Any) -> str:
    if isinstance(x, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_dump_json(v)}" for k, v in x.items()) + "}"
    if isinstance(x, list):
        return "[" + ", ".join(_dump_json(v) for v in x) + "]"
    if isinstance(x, _Num):
        return str.__str__(x)
    if x is True:
        return "true"
    if x is False:
        return "false"
    if x is None:
        return "null"
    return json.dumps(x, ensure_ascii=False)


def row_filter(spec: Mapping[str, Any] | None, codec: str) -> RowRedactor | None:
    """The COPY filter for a ``filter_spec`` (None: the table is not redacted); ``codec``: the
    Python codec of the session's client_encoding."""
    if not spec or not spec["spec"]:
        return None
    return RowRedactor(bytes(spec["key"]), codec, spec["spec"])


def user_mapping_warning(target: str, server: str, dropped: list[str]) -> str:
    """The warning for a user mapping whose secret options ``--redact-auth`` left out."""
    return (
        f"user mapping for {target} on server {quote_ident(server)}: option {', '.join(dropped)} not dumped "
        "(--redact-auth); set it again with ALTER USER MAPPING after restoring"
    )
