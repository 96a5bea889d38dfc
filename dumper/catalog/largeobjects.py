"""Large objects (metadata only: the data is streamed at write time) and security labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dumper.catalog.base import CatalogObject, acl_columns, make_acl

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class LargeObject(CatalogObject):
    oid: int = 0


@dataclass
class SecurityLabel:
    classid: str
    objoid: int
    subid: int
    objtype: str  # pg_identify_object's type
    identity: str
    provider: str
    label: str


def read_large_objects(s: Session) -> list[LargeObject]:
    rows = s.query(
        f"""
        SELECT l.oid, pg_catalog.pg_get_userbyid(l.lomowner) AS owner, {acl_columns('l.lomacl', "'L'", 'l.lomowner')}
          FROM pg_catalog.pg_largeobject_metadata l ORDER BY l.oid
        """
    )
    return [
        LargeObject(ref=("pg_largeobject", r["oid"]), schema=None, name=str(r["oid"]), owner=r["owner"],
                    identity=str(r["oid"]), acl=make_acl(r, "L"), oid=r["oid"])
        for r in rows
    ]


def read_security_labels(s: Session) -> list[SecurityLabel]:
    """Every label in one query, named by ``pg_identify_object`` like comments are.

    Labels exist only where a label provider module (sepgsql, anon, ...) was loaded; on most
    servers this returns nothing, but the path is the same.
    """
    rows = s.query(
        """
        SELECT l.classoid::pg_catalog.regclass::text AS classid, l.objoid, l.objsubid, io.type AS objtype,
               io.identity, l.provider, l.label
          FROM pg_catalog.pg_seclabel l,
               LATERAL pg_catalog.pg_identify_object(l.classoid, l.objoid, l.objsubid) io
         WHERE l.objoid >= 16384 AND io.identity IS NOT NULL
         ORDER BY io.type, io.identity, l.provider
        """
    )
    return [SecurityLabel(r["classid"], r["objoid"], r["objsubid"], r["objtype"], r["identity"], r["provider"], r["label"])
            for r in rows]
