"""The corpus: every ``race_*`` program must be reported (exit status 66)
and no ``norace_*`` program may be (exit status 0).  The programs run once
on each detector path (C, pure Python), in parallel, in subprocesses; the
summary test counts false positives and false negatives, and each program
also has a test of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).with_name("corpus")
PROGRAMS = sorted(p.name for p in CORPUS.glob("*race_*.py"))

pytestmark = pytest.mark.timeout(300)


def run_program(name: str, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{name}.json"
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "race", "--json", str(out), str(CORPUS / name)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=CORPUS,
    )
    races = json.loads(out.read_text(encoding="utf-8"))["races"] if out.exists() else None
    return {"status": done.returncode, "races": races, "stderr": done.stderr}


@pytest.fixture(scope="module")
def outcomes_by_path() -> dict[str, dict[str, dict[str, Any]]]:
    return {}


@pytest.fixture
def outcomes(
    outcomes_by_path: dict[str, dict[str, dict[str, Any]]],
    detector_path: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, dict[str, Any]]:
    """The corpus's outcomes on the detector path of this test (the
    programs inherit THREADLINE_RACE_PURE, set by ``detector_path``): run
    once per path."""
    if detector_path not in outcomes_by_path:
        tmp = tmp_path_factory.mktemp(f"corpus-{detector_path}")
        with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
            results = pool.map(lambda name: run_program(name, tmp), PROGRAMS)
            outcomes_by_path[detector_path] = dict(zip(PROGRAMS, results, strict=True))
    return outcomes_by_path[detector_path]


def test_corpus_is_big_enough() -> None:
    races = [p for p in PROGRAMS if p.startswith("race_")]
    noraces = [p for p in PROGRAMS if p.startswith("norace_")]
    assert len(races) >= 20
    assert len(noraces) >= 20
    assert len(PROGRAMS) >= 40


def test_no_false_positives_and_no_false_negatives(
    outcomes: dict[str, dict[str, Any]],
) -> None:
    false_negatives = [
        name for name, o in outcomes.items() if name.startswith("race_") and o["status"] != 66
    ]
    false_positives = [
        name for name, o in outcomes.items() if name.startswith("norace_") and o["status"] != 0
    ]
    print(
        f"\ncorpus: {len(outcomes)} programs, "
        f"{len(false_positives)} false positive(s), {len(false_negatives)} false negative(s)"
    )
    assert false_positives == [], {n: outcomes[n]["stderr"][-2000:] for n in false_positives}
    assert false_negatives == [], {n: outcomes[n]["stderr"][-2000:] for n in false_negatives}


@pytest.mark.parametrize("name", PROGRAMS)
def test_program(name: str, outcomes: dict[str, dict[str, Any]]) -> None:
    outcome = outcomes[name]
    if name.startswith("race_"):
        assert outcome["status"] == 66, outcome["stderr"][-2000:]
        assert outcome["races"], "reported, but not in the JSON"
        assert "WARNING: DATA RACE" in outcome["stderr"]
        assert outcome["stderr"].rstrip().endswith(f"Found {len(outcome['races'])} data race(s)")
        for race in outcome["races"]:
            for side in ("current", "previous"):
                assert race[side]["stack"], f"no stack for the {side} access"
                assert race[side]["stack"][0]["file"].endswith(name)
    else:
        assert outcome["status"] == 0, outcome["stderr"][-2000:]
        assert outcome["races"] == []
        assert "DATA RACE" not in outcome["stderr"]
