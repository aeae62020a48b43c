"""Smoke test of bench/vs_go.py: it runs on both channel paths, with or
without Go, and reports the threadline rows (no timings are checked)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from threadline import _channel

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "vs_go.py"


@pytest.mark.parametrize("pure", ["0", "1"])
def test_vs_go_quick_reports_threadline_on_both_paths(pure: str, tmp_path: Path) -> None:
    out = tmp_path / "vs_go.json"
    env = {**os.environ, "THREADLINE_PURE": pure}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1", "--json", str(out)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    expect_pure = pure == "1" or _channel.CChannel is None
    assert doc["environment"]["threadline_pure"] is expect_pure
    label = "threadline (pure)" if expect_pure else "threadline (C)"
    results = {r["program"]: r for r in doc["results"]}
    assert set(results) == {"pingpong", "pipeline"}
    measured_go = "go" in doc["environment"]
    if shutil.which("go") is None:
        assert not measured_go
    if not measured_go:
        assert "Go: not measured" in done.stdout
    for name, result in results.items():
        assert result["columns"]["threadline"]["label"] == label
        assert result["columns"]["threadline"]["median"] > 0
        assert result["columns"]["queue"]["median"] > 0
        expected = {"threadline", "queue"} | ({"go", "go1"} if measured_go else set())
        assert set(result["columns"]) == expected
        row = next(line for line in done.stdout.splitlines() if line.startswith(name + " "))
        assert len(row.split()) > 2
    assert label in done.stdout
