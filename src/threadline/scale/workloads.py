"""Bundled units of work for ``threadline scale``: each is a function with
no arguments that does one unit, and each scales differently.

    threadline scale threadline.scale.workloads:web_request

- ``web_request``: one HTTP request handled in-process by a Flask
  application (needs the ``web`` extra): "is my web framework faster?"
- ``json_lines``: parse an access log of JSON lines and aggregate it: "can
  I process data in parallel?"
- ``cpu``: pure-Python arithmetic.  Scales with threads only without the GIL.
- ``gil_releasing``: hashing a 1 MiB buffer; hashlib releases the GIL, so
  threads scale even on a GIL build.
- ``io_sleep``: 5 ms of ``time.sleep``; scales with threads everywhere,
  bounded only by how many workers there are.
- ``lock_contended``: every unit takes one process-wide lock around its
  work: no mode scales past one thread (processes each have their own lock).
- ``shared_dict``: updates to one dict shared by all threads (each
  update is atomic, so the result stays correct); contention on the dict
  limits threads without the GIL.

Shared state: ``_lock`` and ``_shared`` are what ``lock_contended`` and
``shared_dict`` measure; ``_app`` is set once, under ``_app_lock``, and only
read after that; every other module global is immutable.  Importing this
module never imports Flask.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "cpu",
    "gil_releasing",
    "io_sleep",
    "json_lines",
    "lock_contended",
    "shared_dict",
    "web_request",
]

_BUFFER = bytes(range(256)) * 4096  # 1 MiB
_lock = threading.Lock()
_shared: dict[int, int] = {}


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def cpu() -> None:
    """About 1 ms of pure-Python arithmetic (on a 2020s CPU)."""
    _spin(20_000)


def gil_releasing() -> None:
    """SHA-256 of 1 MiB: C code that runs without the GIL."""
    hashlib.sha256(_BUFFER).digest()


def io_sleep() -> None:
    """5 ms of waiting, as for a network call."""
    time.sleep(0.005)


def lock_contended() -> None:
    """The same arithmetic as ``cpu``, a tenth of it, under one global lock."""
    with _lock:
        _spin(2_000)


def shared_dict() -> None:
    """A thousand updates to a dict every thread shares."""
    shared = _shared
    for i in range(1_000):
        key = i & 63
        shared[key] = shared.get(key, 0) + 1


# --- json_lines ---------------------------------------------------------------

_PATHS = ("/", "/login", "/search", "/cart", "/checkout", "/api/items", "/api/users", "/health")
_LOG_LINES = 200


def _log_record(i: int) -> str:
    """Access-log record *i* as a JSON line: made up, always the same."""
    return json.dumps(
        {
            "ts": f"2025-01-01T12:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "path": _PATHS[i * 7 % len(_PATHS)],
            "status": 500 if i % 97 == 0 else 404 if i % 31 == 0 else 200,
            "ms": round(0.5 + (i * 37 % 400) / 10, 1),
            "bytes": 200 + i * 131 % 9000,
            "user": f"u{i * 13 % 50}",
        }
    )


_LOG = "\n".join(_log_record(i) for i in range(_LOG_LINES))  # about 22 KB of text


def json_lines() -> None:
    """Parse 200 JSON lines (an access log) and aggregate them per path:
    requests, errors, bytes sent, the slowest response and distinct users.

    Stands for a data-processing step on text, the question "can I process
    data in parallel?".  ``json`` parses with the GIL held, so on a GIL
    build only processes scale.
    """
    stats: dict[str, dict[str, Any]] = {}
    for line in _LOG.splitlines():
        record = json.loads(line)
        entry = stats.get(record["path"])
        if entry is None:
            entry = stats[record["path"]] = {
                "requests": 0,
                "errors": 0,
                "bytes": 0,
                "slowest": 0.0,
                "users": set(),
            }
        entry["requests"] += 1
        entry["errors"] += record["status"] >= 500
        entry["bytes"] += record["bytes"]
        entry["slowest"] = max(entry["slowest"], record["ms"])
        entry["users"].add(record["user"])
    if sum(entry["requests"] for entry in stats.values()) != _LOG_LINES:
        raise AssertionError("json_lines lost a record")


# --- web_request --------------------------------------------------------------

_app: Any = None
_app_lock = threading.Lock()
_ORDERS: tuple[dict[str, Any], ...] = tuple(
    {"id": n, "user": n % 40, "status": ("open", "paid", "shipped")[n % 3], "total": n * 7 % 300}
    for n in range(400)
)


def _flask_app() -> Any:
    """The Flask application, made on first use (Flask is imported then)."""
    global _app
    found = _app  # set once, then only read
    if found is not None:
        return found
    with _app_lock:
        if _app is None:
            try:
                import flask  # noqa: PLC0415 - an optional extra
            except ImportError as exc:
                raise ImportError(
                    "the web_request workload needs Flask: pip install 'threadline[web]'"
                ) from exc
            _app = _make_app(flask)
        return _app


def _make_app(flask: Any) -> Any:
    """A small JSON API: ``GET /users/<id>/orders?status=...&limit=...``."""
    app = flask.Flask("threadline_scale_web")

    def orders(user: int) -> Any:
        status = flask.request.args.get("status", "open")
        limit = flask.request.args.get("limit", 20, type=int)
        found = [o for o in _ORDERS if o["user"] == user and o["status"] == status][:limit]
        total = sum(o["total"] for o in found)
        return flask.jsonify(user=user, status=status, orders=found, total=total)

    app.add_url_rule("/users/<int:user>/orders", view_func=orders)
    return app


def _environ() -> dict[str, Any]:
    """A fresh WSGI environ for ``GET /users/7/orders?status=open&limit=5``."""
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/users/7/orders",
        "QUERY_STRING": "status=open&limit=5",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "HTTP_ACCEPT": "application/json",
        "HTTP_USER_AGENT": "threadline-scale",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def web_request() -> None:
    """One HTTP request handled in-process by a Flask application, through
    its WSGI interface (no server, no network): routing, a path parameter,
    query arguments, a little work and a JSON response.

    Stands for a web framework's own cost per request, the question "is my
    web framework faster?".  Needs Flask: ``pip install 'threadline[web]'``.
    """
    app = _flask_app()
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: object = None
    ) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    body: Iterable[bytes] = app(_environ(), start_response)
    try:
        payload = b"".join(body)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    if statuses != ["200 OK"] or not payload.startswith(b"{"):
        raise AssertionError(f"web_request got {statuses} {payload[:200]!r}")
