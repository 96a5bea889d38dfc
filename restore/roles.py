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
from restore.script import BLANK_TOKENS, tokenize

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
        stmt = _RoleStatement(text, self.mapping)
        stmt.rewrite()
        if not stmt.changed:
            return raw
        self.rewritten += 1
        return stmt.text().encode("utf-8", "surrogateescape")


#: Word pairs after which exactly one role follows (``OWNER TO r``, ``SET ROLE r``, ``GRANTED BY r``).
_SINGLE_ROLE = frozenset({("owner", "to"), ("set", "role"), ("granted", "by")})
#: Role words that are no role names and are never mapped.
_NOT_MAPPED = frozenset({"public", "current_user", "session_user", "current_role"})


class _RoleStatement:
    """The tokens of one statement while its role positions are rewritten.

    Positions are indexes into ``sig``, the tokens that are neither whitespace nor comments.
    """

    def __init__(self, text: str, mapping: dict[str, str]) -> None:
        self.toks = [_Tok(kind, tok) for kind, tok in tokenize(text)]
        self.sig = [i for i, t in enumerate(self.toks) if t.kind not in BLANK_TOKENS]
        self.words = [self.toks[i].word for i in self.sig]
        self.mapping = mapping
        self.changed = False
        self.first = self.words[0] if self.words else None
        second = self.words[1] if len(self.words) > 1 else None
        self.is_grant = self.first == "grant" or (self.first == "alter" and second == "default")
        self.is_revoke = self.first == "revoke"
        self.is_policy = second == "policy" and self.first in ("create", "alter")

    def text(self) -> str:
        return "".join(t.text for t in self.toks)

    def _tok(self, k: int) -> _Tok:
        return self.toks[self.sig[k]]

    def rewrite(self) -> None:
        """Map the roles of every role list in the statement."""
        k = 0
        while k < len(self.sig):
            if self.is_policy and self.words[k] in ("using", "with"):
                break  # the policy's expressions follow: no role positions there
            start = self._list_at(k)
            if start is None:
                if self.words[k] == "revoke" and self.first == "alter":  # ALTER DEFAULT PRIVILEGES ... REVOKE ... FROM
                    self.is_revoke = True
                k += 1
                continue
            k = self._role_list(*start)

    def _list_at(self, k: int) -> tuple[int, bool] | None:
        """Where a role list starts after the word at ``k`` and whether it holds one role, or None."""
        w = self.words[k]
        nxt = self.words[k + 1] if k + 1 < len(self.sig) else None
        if (w, nxt) in _SINGLE_ROLE:
            return k + 2, True
        if w == "authorization":  # CREATE SCHEMA ... AUTHORIZATION r, SET SESSION AUTHORIZATION r
            return k + 1, True
        if w == "for" and nxt in ("role", "user") and self.first == "alter":
            return k + 2, False
        if (w == "to" and (self.is_grant or self.is_policy)) or (w == "from" and self.is_revoke):
            return k + 1, False
        return None

    def _role_list(self, start: int, single: bool) -> int:
        """Map the roles of a comma-separated list starting at ``start``; the position after it."""
        k = start
        while k < len(self.sig):
            t = self._tok(k)
            if (t.kind == "other" and t.text in ";)") or t.word in _LIST_END:
                break
            if t.kind not in ("word", "qident") or self._name_follows(k):
                k += 1  # punctuation, or GRANT ... TO GROUP g / ROLE r (old syntax): the name follows
                continue
            self._map(k)
            if single:
                return k + 1
            k += 1
            if k < len(self.sig) and self._tok(k).text == ",":
                k += 1
                continue
            break
        return k

    def _name_follows(self, k: int) -> bool:
        t = self._tok(k)
        if t.word == "group":
            return True
        if t.word != "role" or k + 1 >= len(self.sig):
            return False
        n = self._tok(k + 1)
        return n.kind in ("word", "qident") and n.word not in _LIST_END

    def _map(self, k: int) -> None:
        t = self._tok(k)
        name = t.role_name()
        if name is not None and name in self.mapping and t.word not in _NOT_MAPPED:
            self.toks[self.sig[k]] = _Tok("qident", _role_ident(self.mapping[name]))
            self.changed = True


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
