"""What every family's builder shares while the entries of one dump are built.

One :class:`BuildContext` is created per dump by :func:`dumper.entries.build_entries` and
handed to each builder in turn. It holds the catalog and plan, the entries built so far and
the lookups later builders hang their entries off (``carriers`` for comments, grants and
labels; ``table_entry``/``data_entry`` for what belongs to a relation). Because the builders
receive this object instead of callbacks, they import nothing from each other or from the
package: the import graph is a tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dumper.ddl.common import acl_stmts, owner_stmt
from dumper.format.toc import Kind
from dumper.toc import Entry

if TYPE_CHECKING:
    from dumper.catalog import Catalog
    from dumper.catalog.base import Acl, CatalogObject, Ref
    from dumper.catalog.relations import Relation
    from dumper.plan import Plan


@dataclass
class Built:
    """What :func:`dumper.entries.build_entries` returns: the entries in build order (the sort
    in :mod:`dumper.order` decides their final order) and the warnings for the user."""

    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    extra_roles: set[str] = field(default_factory=set)  # roles named by entries without a catalog object


@dataclass
class BuildContext:
    cat: Catalog
    plan: Plan
    built: Built = field(default_factory=Built)
    # Every object that can carry a comment, grant or label, by catalog identity.
    carriers: dict[Ref, Entry] = field(default_factory=dict)
    # relation oid -> its TABLE/VIEW/... entry, and -> its TABLE DATA entry
    table_entry: dict[int, Entry] = field(default_factory=dict)
    data_entry: dict[int, Entry] = field(default_factory=dict)
    rels: dict[int, Relation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rels = {r.oid: r for r in self.cat.relations}

    # -- what the plan asks for ----------------------------------------------------------------
    @property
    def ddl(self) -> bool:
        """Definitions are written (not ``--data-only``)."""
        return not self.plan.data_only

    @property
    def whole_db(self) -> bool:
        """No ``-n``/``-t``: database-wide objects (languages, casts, FDWs, publications, event
        triggers, large objects, system-object grants) belong to the dump, as with pg_dump."""
        return not self.plan.tables and not self.plan.schemas

    @property
    def entries(self) -> list[Entry]:
        return self.built.entries

    def warn(self, message: str) -> None:
        self.built.warnings.append(message)

    # -- adding entries --------------------------------------------------------------------------
    def add(self, e: Entry, obj: CatalogObject | None = None) -> Entry:
        """Append ``e``; with ``obj``, ``e`` creates it, so its comments and grants follow ``e``."""
        self.built.entries.append(e)
        if obj is not None:
            e.refs.append(obj.ref)
            self.carriers[obj.ref] = e
        return e

    def append(self, e: Entry) -> Entry:
        """Append an entry that creates no catalog object of its own (an ALTER, a DEFAULT, ...)."""
        self.built.entries.append(e)
        return e

    def carry(self, ref: Ref, e: Entry) -> None:
        """``e`` also creates the object ``ref`` (a constraint written inside its CREATE TABLE)."""
        e.refs.append(ref)
        self.carriers[ref] = e

    def owner(self, keyword: str, identity: str, role: str | None) -> str:
        """``ALTER ... OWNER TO`` unless ``--no-owner`` (or the object has no owner)."""
        return "" if self.plan.no_owner or not role else owner_stmt(keyword, identity, role)

    def owner_of(self, keyword: str, obj: CatalogObject) -> str:
        return self.owner(keyword, obj.identity, obj.owner)

    def grant(self, e: Entry, acl: Acl | None, target: str, role: str | None) -> None:
        """The ACL entry right after ``e``: what differs from the object's start (ddl/common)."""
        if acl is not None and not self.plan.no_acl and self.ddl:
            self.append(e.follow(Kind.ACL, acl_stmts(acl, target, role)))

    def grant_on(self, e: Entry, obj: CatalogObject, keyword: str) -> None:
        """:meth:`grant` for ``obj``'s own ACL, the target spelled ``KEYWORD identity``."""
        self.grant(e, obj.acl, f"{keyword} {obj.identity}", obj.owner)
