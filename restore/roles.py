"""``--role-map old=new``: rewrite role names in the statements of a backup.

A backup made on one server names that server's roles (``OWNER TO "supabase_admin"``,
``GRANT ... TO app_user``); the target often has other names for the same jobs. The rewrite is
done on tokens, not with a text search-and-replace, because a role name is also a perfectly
good table, column or string value: only identifiers in *role positions* change:

* ``OWNER TO r``; ``AUTHORIZATION r`` (``CREATE SCHEMA``, ``SET SESSION AUTHORIZATION``); ``SET ROLE r``;
* the grantee list after ``TO`` of ``GRANT`` / ``FROM`` of ``REVOKE``, and ``GRANTED BY r``;
* ``FOR ROLE r, ...`` / ``FOR USER`` of ``ALTER DEFAULT PRIVILEGES``;
* the role list after ``TO`` of ``CREATE POLICY`` / ``ALTER POLICY``.

Strings, dollar-quoted bodies, comments and quoted identifiers are never looked into, so a
function body that mentions the role is left alone (it is code, not a role reference).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.errors import UsageError
from dumper.format.names import quote_ident
from restore.script import tokenize

if TYPE_CHECKING:
    import psycopg

#: Words that end a role list (what may follow grantees / policy roles in the grammar).
_LIST_END = frozenset({"with", "granted", "using", "cascade", "restrict", "in", "grant", "revoke", "as", "for"})


def _role_ident(name: str) -> str:
    """A role name in a role position: quoted as the server's ``quote_ident`` would, except that
    a role literally named ``public`` is quoted (bare, it would mean the PUBLIC pseudo-role)."""
    return '"public"' if name == "public" else quote_ident(name)


def parse_role_map(items: Iterable[str]) -> dict[str, str]:
    """``["old=new", ...]`` → mapping; role names are taken literally (case and all)."""
    out: dict[str, str] = {}
    for item in items:
        old, sep, new = item.partition("=")
        if not sep or not old or not new:
            raise UsageError(f"--role-map expects OLD=NEW, got {item!r}")
        out[old] = new
    return out


@dataclass(slots=True)
class _Tok:
    kind: str
    text: str

    @property
    def word(self) -> str | None:
        """Lower-cased keyword text of an unquoted word (None for anything else)."""
        return self.text.lower() if self.kind == "word" else None

    def role_name(self) -> str | None:
        if self.kind == "word":
            return self.text.lower()
        if self.kind == "qident":
            return self.text[1:-1].replace('""', '"')
        return None


class RoleMapper:
    """Rewrites role references of one statement at a time (stateless between statements)."""

    def __init__(self, mapping: dict[str, str]) -> None:
        self.mapping = dict(mapping)
        self.rewritten = 0
        # Cheap pre-filter: a statement that mentions none of the old names cannot change.
        self._needles = [re.compile(re.escape(old), re.IGNORECASE) for old in self.mapping]

    def rewrite(self, raw: bytes) -> bytes:
        """The statement with role names mapped; the very same bytes when nothing applies."""
        if not self.mapping:
            return raw
        text = raw.decode("utf-8", "surrogateescape")
        if not any(n.search(text) for n in self._needles):
            return raw
        toks = [_Tok(kind, tok) for kind, tok in tokenize(text)]
        sig = [i for i, t in enumerate(toks) if t.kind not in ("ws", "comment")]
        changed = False
        words = [toks[i].word for i in sig]
        first = words[0] if words else None
        second = words[1] if len(words) > 1 else None

        def role_list(start: int, single: bool = False) -> int:
            """Map the roles of a comma-separated list starting at sig index ``start``."""
            nonlocal changed
            k = start
            while k < len(sig):
                t = toks[sig[k]]
                if t.kind == "other" and t.text in ";)":
                    break
                if t.word in _LIST_END:
                    break
                if t.kind in ("word", "qident"):
                    name = t.role_name()
                    if t.word == "group" or (t.word == "role" and k + 1 < len(sig) and toks[sig[k + 1]].kind in ("word", "qident")
                                             and toks[sig[k + 1]].word not in _LIST_END):
                        k += 1  # GRANT ... TO GROUP g / ROLE r (old syntax): the name follows
                        continue
                    if name is not None and name in self.mapping and t.word not in ("public", "current_user",
                                                                                      "session_user", "current_role"):
                        toks[sig[k]] = _Tok("qident", _role_ident(self.mapping[name]))
                        changed = True
                    if single:
                        return k + 1
                    k += 1
                    if k < len(sig) and toks[sig[k]].text == ",":
                        k += 1
                        continue
                    break
                k += 1
            return k

        is_grant = first == "grant" or (first == "alter" and second == "default")
        is_revoke = first == "revoke"
        is_policy = second == "policy" and first in ("create", "alter")
        k = 0
        while k < len(sig):
            w = words[k]
            nxt = words[k + 1] if k + 1 < len(sig) else None
            if w == "owner" and nxt == "to":
                k = role_list(k + 2, single=True)
                continue
            if w == "authorization":
                k = role_list(k + 1, single=True)
                continue
            if w == "set" and nxt == "role":
                k = role_list(k + 2, single=True)
                continue
            if w == "granted" and nxt == "by":
                k = role_list(k + 2, single=True)
                continue
            if w == "for" and nxt in ("role", "user") and first == "alter":
                k = role_list(k + 2)
                continue
            if is_policy and w in ("using", "with"):
                break  # the policy's expressions follow: no role positions there
            if w == "to" and (is_grant or is_policy):
                k = role_list(k + 1)
                continue
            if w == "from" and is_revoke:
                k = role_list(k + 1)
                continue
            if w == "revoke" and first == "alter":  # ALTER DEFAULT PRIVILEGES ... REVOKE ... FROM
                is_revoke = True
            k += 1
        if not changed:
            return raw
        self.rewritten += 1
        return "".join(t.text for t in toks).encode("utf-8", "surrogateescape")


def bootstrap_role_map(conn: "psycopg.Connection", metadata: dict, explicit: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Map the source cluster's bootstrap superuser when the target has no such role.

    A backup of a Supabase project names ``supabase_admin`` (the role that created that
    cluster) as the owner of many objects; the dump never creates that role (it is the
    platform's, and creating a superuser is not a restore's business). On any other cluster
    the first ``ALTER ... OWNER TO supabase_admin`` would fail. The natural counterpart on the
    target is its own bootstrap superuser, or the restoring role itself when that is not a
    superuser (it could not give objects away to a superuser anyway). An explicit
    ``--role-map`` for the role always wins. Returns the extra mapping and a one-line note."""
    source = (metadata.get("server") or {}).get("bootstrap_superuser")
    if not isinstance(source, str) or not source or source in explicit:
        return {}, None
    row = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = %s),"
        "       (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10),"
        "       current_user, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)",
        [source]).fetchone()
    if row is None or row[0]:
        return {}, None
    target = row[1] if row[3] else row[2]
    note = (f"the source's bootstrap superuser {source} does not exist in the target: what it owned goes to "
            f"{target} (--role-map {source}=ROLE chooses another role)")
    return {source: target}, note
