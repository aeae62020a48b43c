"""Race reports: Go's format in Python's idiom, one per distinct pair of
source locations, and a JSON document for tools."""

from __future__ import annotations

import fnmatch
import json
import threading
from typing import Any, TextIO

from ._detector import Access, Race, Stack

EXIT_RACE = 66
RULE = "=" * 18


def _frames(stack: Stack) -> list[str]:
    return [f"  {func}()\n      {file}:{line}" for file, line, func in stack] or ["  (no frames)"]


def _site(access: Access) -> tuple[str, int]:
    return (access.stack[0][0], access.stack[0][1]) if access.stack else ("?", 0)


def _thread_line(access: Access) -> str:
    return f"{access.thread.name} (thread {access.thread.slot})"


def format_race(race: Race) -> str:
    cur, prev = race.current, race.previous
    kind = "Write" if cur.write else "Read"
    prev_kind = "write" if prev.write else "read"
    lines = [
        RULE,
        "WARNING: DATA RACE",
        f"{kind} of {cur.what} by {_thread_line(cur)}:",
        *_frames(cur.stack),
        "",
        f"Previous {prev_kind} of {prev.what} by {_thread_line(prev)}:",
        *_frames(prev.stack),
    ]
    for info in dict.fromkeys([cur.thread, prev.thread]):
        lines.append("")
        if info.created_at:
            lines.append(f"{info.name} (thread {info.slot}) created at:")
            lines += _frames(info.created_at)
        else:
            lines.append(f"{info.name} (thread {info.slot}) was running when detection began")
    lines.append(RULE)
    return "\n".join(lines)


def race_json(race: Race) -> dict[str, Any]:
    def access(a: Access) -> dict[str, Any]:
        return {
            "kind": "write" if a.write else "read",
            "location": a.what,
            "thread": {"id": a.thread.slot, "name": a.thread.name},
            "stack": [{"file": f, "line": n, "function": fn} for f, n, fn in a.stack],
            "thread_created_at": [
                {"file": f, "line": n, "function": fn} for f, n, fn in a.thread.created_at
            ],
        }

    return {"current": access(race.current), "previous": access(race.previous)}


class Suppressions:
    """Patterns from a suppression file: ``file:line``, ``file`` or a
    function name, with ``*`` wildcards; ``#`` starts a comment."""

    def __init__(self, patterns: list[str] | None = None) -> None:
        self.patterns: list[str] = [] if patterns is None else patterns

    def __repr__(self) -> str:
        return f"Suppressions({self.patterns!r})"

    @classmethod
    def load(cls, path: str) -> Suppressions:
        patterns = []
        with open(path, encoding="utf-8") as f:
            for raw in f:
                text = raw.split("#", 1)[0].strip()
                if text:
                    patterns.append(text)
        return cls(patterns)

    def matches(self, race: Race) -> bool:
        for access in (race.current, race.previous):
            for file, line, func in access.stack[:1]:
                base = file.rsplit("/", 1)[-1]
                names = (f"{file}:{line}", f"{base}:{line}", file, base, func)
                if any(fnmatch.fnmatch(n, p) for n in names for p in self.patterns):
                    return True
        return False


class Reporter:
    """Collects races, prints each new one at once, counts them."""

    def __init__(self, out: TextIO, suppress: Suppressions | None = None) -> None:
        self.out = out
        self.suppress = suppress or Suppressions()
        self.races: list[Race] = []
        self._seen: set[frozenset[tuple[str, int]]] = set()
        self._lock = threading.Lock()

    def __call__(self, race: Race) -> None:
        pair = frozenset([_site(race.current), _site(race.previous)])
        with self._lock:
            if pair in self._seen or self.suppress.matches(race):
                return
            self._seen.add(pair)
            self.races.append(race)
            self.out.write(format_race(race) + "\n")
            self.out.flush()

    def summary(self) -> str:
        return f"Found {len(self.races)} data race(s)"

    def write_json(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"races": [race_json(r) for r in self.races]}, f, indent=2)
            f.write("\n")
