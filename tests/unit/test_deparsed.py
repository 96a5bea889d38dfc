"""A server deparser's NULL (an object another session dropped after the dump's snapshot) is a
one-line failure naming the object (exit 7), never a crash on ``None`` used as text (found by
the soak: concurrent DDL made pydump exit 1 with a TypeError)."""
from __future__ import annotations

import pytest

from dumper.catalog.base import require_deparsed
from dumper.errors import ExitCode, ServerError


def test_null_definition_names_the_object() -> None:
    rows = [{"identity": "public.ok()", "definition": "CREATE FUNCTION ..."},
            {"identity": "public.gone(integer)", "definition": None}]
    with pytest.raises(ServerError) as exc:
        require_deparsed(rows, ("definition",), "function")
    assert exc.value.exit_code == ExitCode.SERVER
    assert "function public.gone(integer) was dropped or changed by another session" in str(exc.value)


def test_name_falls_back_to_schema_and_name_then_oid() -> None:
    with pytest.raises(ServerError, match="trigger app.t_audit was dropped"):
        require_deparsed([{"schema": "app", "name": "t_audit", "definition": None}], ("definition",), "trigger")
    with pytest.raises(ServerError, match="rule oid 4242 was dropped"):
        require_deparsed([{"oid": 4242, "definition": None}], ("definition",), "rule")


def test_present_definitions_pass() -> None:
    require_deparsed([{"identity": "x", "definition": ""}], ("definition",), "index")
