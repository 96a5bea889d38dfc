"""Comments on every kind of object, read in one query.

``pg_identify_object`` names each commented object exactly as ``COMMENT ON`` expects it
(qualified, quoted, functions with their argument types), so no per-kind naming code is
needed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dumper.session import Session


@dataclass
class Comment:
    classid: str
    objoid: int
    subid: int
    objtype: str  # pg_identify_object's type, e.g. "table column"
    identity: str
    text: str


def read_comments(s: Session) -> dict[tuple[str, int, int], Comment]:
    rows = s.query(
        """
        SELECT d.classoid::pg_catalog.regclass::text AS classid, d.objoid, d.objsubid AS subid,
               io.type AS objtype, io.identity, d.description AS text
          FROM pg_catalog.pg_description d,
               LATERAL pg_catalog.pg_identify_object(d.classoid, d.objoid, d.objsubid) io
         WHERE d.objoid >= 16384 AND io.identity IS NOT NULL
        """
    )
    out: dict[tuple[str, int, int], Comment] = {}
    for r in rows:
        c = Comment(r["classid"], r["objoid"], r["subid"], r["objtype"], r["identity"], r["text"])
        out[(c.classid, c.objoid, c.subid)] = c
    return out
