"""The bundled workloads: each runs, says what it stands for, and the web
one needs Flask only when it is used."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.helpers import run_python
from threadline._cli import main
from threadline.scale import workloads

from .test_command import QUICK, load, validate


@pytest.mark.parametrize("name", workloads.__all__)
def test_each_workload_runs_and_says_what_it_is(name: str) -> None:
    if name == "web_request":
        pytest.importorskip("flask")
    unit = getattr(workloads, name)
    assert unit() is None
    assert unit.__doc__ is not None
    assert len(unit.__doc__.split()) >= 5
    assert f"``{name}``" in (workloads.__doc__ or "")


def test_the_question_each_new_workload_answers() -> None:
    web = " ".join((workloads.web_request.__doc__ or "").split())
    data = " ".join((workloads.json_lines.__doc__ or "").split())
    assert 'the question "is my web framework faster?"' in web
    assert "pip install 'threadline[web]'" in web
    assert 'the question "can I process data in parallel?"' in data


def test_json_lines_reads_a_real_log() -> None:
    lines = workloads._LOG.splitlines()
    assert len(lines) == workloads._LOG_LINES
    records = [json.loads(line) for line in lines]
    assert {r["path"] for r in records} == set(workloads._PATHS)
    assert {r["status"] for r in records} == {200, 404, 500}


def test_web_request_goes_through_flask() -> None:
    pytest.importorskip("flask")
    client = workloads._flask_app().test_client()
    reply = client.get("/users/7/orders?status=open&limit=2")
    assert reply.status_code == 200
    body: dict[str, Any] = reply.get_json()
    assert body["user"] == 7
    assert [o["id"] for o in body["orders"]] == [87, 207]  # users are n % 40, open is n % 3 == 0
    assert body["total"] == sum(o["total"] for o in body["orders"])
    assert client.get("/users/x/orders").status_code == 404


def test_web_request_makes_one_app_for_many_threads(
    monkeypatch: pytest.MonkeyPatch, tiny_switch: None
) -> None:
    pytest.importorskip("flask")
    monkeypatch.setattr(workloads, "_app", None)
    barrier = threading.Barrier(8)
    apps: list[object] = []
    apps_lock = threading.Lock()

    def request() -> None:
        barrier.wait()
        workloads.web_request()
        app = workloads._flask_app()
        with apps_lock:
            apps.append(app)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(apps) == 8
    assert len({id(app) for app in apps}) == 1


def test_the_workloads_import_without_flask() -> None:
    # flask made unimportable: the module loads, the other workloads run,
    # and web_request names the extra to install.
    script = (
        "import sys\n"
        "sys.modules['flask'] = None\n"
        "from threadline.scale import workloads\n"
        "workloads.json_lines()\n"
        "workloads.cpu()\n"
        "try:\n"
        "    workloads.web_request()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = run_python(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("the web_request workload needs Flask: pip install 'threadline[web]'\n")


def test_importing_the_workloads_does_not_import_flask() -> None:
    script = "import sys; import threadline.scale.workloads; print('flask' in sys.modules)"
    done = run_python(script)
    assert done.stdout == "False\n", done.stderr


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["web_request", "json_lines"])
def test_the_new_workloads_through_the_command(name: str, tmp_path: Any) -> None:
    if name == "web_request":
        pytest.importorskip("flask")
    out = tmp_path / "r.json"
    args = ["scale", f"threadline.scale.workloads:{name}", "--workers", "2", *QUICK]
    assert main([*args, "--json", str(out)]) == 0
    document = load(out)
    validate(document)
    [report] = document["interpreters"]
    points = {(r["mode"], r["workers"]) for r in report["results"]}
    assert points == {("threads", 1), ("threads", 2), ("processes", 1), ("processes", 2)}
