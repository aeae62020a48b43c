"""docs/api.md covers the whole public API, so it cannot fall behind the code.

Every name of ``threadline.__all__`` has a section (a heading
``### `tl.NAME` ``) that mentions each of its public parameters, methods and
properties, and no section names something that is not public. Each
command of the ``threadline`` command line has a section that mentions each
of its options.
"""

from __future__ import annotations

import argparse
import inspect
import re

import pytest

import threadline as tl
from tests.docs.plugin import ROOT
from threadline import _cli

API = ROOT / "docs" / "api.md"

#: Classes that users get from threadline, never construct: their
#: constructors' parameters are not part of the API.
NOT_CONSTRUCTED = {"Task", "PMap", "Pipeline", "Cancelled", "ChannelClosed", "DeadlockError"}


def sections() -> dict[str, str]:
    """The text under each ``###`` heading of docs/api.md, by heading."""
    found: dict[str, str] = {}
    heading = None
    for line in API.read_text().splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip() if line.startswith("### ") else None
            if heading is not None:
                assert heading not in found, f"docs/api.md: {heading} appears twice"
                found[heading] = ""
        elif heading is not None:
            found[heading] += line + "\n"
    return found


def public_words(name: str) -> set[str]:
    """The parameter, method and property names of `tl.<name>`."""
    obj = getattr(tl, name)
    words: set[str] = set()
    if inspect.isclass(obj):
        words.update(k for k in vars(obj) if not k.startswith("_"))
        signed = None if name in NOT_CONSTRUCTED else obj
    else:
        signed = obj
    if signed is not None:
        words.update(p for p in inspect.signature(signed).parameters if not p.startswith("_"))
    return words


@pytest.mark.parametrize("name", tl.__all__)
def test_every_public_name_has_a_section(name: str) -> None:
    found = sections()
    heading = f"`tl.{name}`"
    assert heading in found, f"docs/api.md has no section '### {heading}'"
    text = found[heading]
    missing = sorted(w for w in public_words(name) if not re.search(rf"\b{w}\b", text))
    assert not missing, f"docs/api.md, {heading}: nothing about {missing}"


def test_no_section_names_what_is_not_public() -> None:
    named = {h[len("`tl.") : -1] for h in sections() if h.startswith("`tl.")}
    assert named - set(tl.__all__) == set()


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = _cli.parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the threadline command has no subcommands")


def test_every_command_and_option_has_a_section() -> None:
    found = sections()
    assert "`threadline --version`" in found
    for command, parser in commands().items():
        heading = f"`threadline {command}`"
        assert heading in found, f"docs/api.md has no section '### {heading}'"
        options = [
            option
            for action in parser._actions
            for option in action.option_strings
            if option not in ("-h", "--help")
        ]
        assert options, command
        missing = [o for o in options if not re.search(rf"(?<![\w-]){o}\b", found[heading])]
        assert not missing, f"docs/api.md, {heading}: nothing about {missing}"


def test_the_readme_links_the_reference() -> None:
    assert "(docs/api.md)" in (ROOT / "README.md").read_text()
