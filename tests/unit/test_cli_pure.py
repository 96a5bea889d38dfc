"""Server-free checks of issue 12: the README's exit codes, usage block and install lines
agree with the code, and `make demo` passes its options on."""

from __future__ import annotations

import re
from pathlib import Path

from dumper.cli import build_parser
from dumper.errors import EXIT_CODE_MEANINGS
from dumper.summary import duration_text

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_exit_codes_match_the_table() -> None:
    section = README.split("### Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M))
    assert {int(k) for k in rows} == {int(c) for c in EXIT_CODE_MEANINGS}, rows


def test_readme_install_lines_use_the_free_name() -> None:
    installs = re.findall(r"pip install [^\s`]+(?: '[^']+')?", README)
    assert installs and all("pydump-pg" in i for i in installs), installs
    assert "pip install 'pydump-pg[fast]'" in README


def test_readme_usage_lists_every_option() -> None:
    usage = README.split("## Usage", 1)[1].split("```", 2)[1]
    for action in build_parser()._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if not longs or longs[0] in ("--help", "--no-privileges"):
            continue
        assert longs[0] in usage, longs[0]
    assert "0600" in README and "0700" in README and "restore.sh" in README


def test_short_options_have_help() -> None:
    for action in build_parser()._actions:
        if set(action.option_strings) & {"-n", "-s", "-a", "-O", "-x"}:
            assert action.help, action.option_strings


def test_duration_text() -> None:
    assert duration_text(0.42) == "0.4 s" and duration_text(9.94) == "9.9 s" and duration_text(12.4) == "12 seconds"


def test_make_demo_passes_args_and_keep() -> None:
    mk = (ROOT / "Makefile").read_text()
    demo = mk.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "$(ARGS)" in demo and "KEEP" in demo
    script = (ROOT / "storage/scripts/demo.py").read_text()
    assert "pyrestore" in script or "restore" in script
