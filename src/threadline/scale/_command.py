"""``threadline scale``: the command line, checks, and running each
interpreter's measurement in a subprocess with a progress display.

    threadline scale ──(config JSON)──> python -m threadline.scale._runner
         ^   │  SIGINT on Ctrl-C          │ (own process group, with its
         │   v                            │  worker processes)
         └── one pipe: the unit's stdout and stderr, and progress events
             result.json: figures, or the error (kind, status, where)

Nothing is written until every interpreter has been measured: a failure
leaves no half-written JSON or PNG.  Bad input, and a unit that fails, exit
with status 2; Ctrl-C stops the runner (SIGINT, then SIGKILL to its whole
process group after ``STOP_GRACE`` seconds or a second Ctrl-C) and exits
with status 130, writing nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import _report, _runner, _target

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
STOP_GRACE = 10.0  # seconds the runner gets to stop its workers after Ctrl-C
OUTPUT_TAIL = 10  # lines of the unit's output shown when it fails


class ScaleError(Exception):
    """A problem to report (with exit status 2)."""


class _Interrupted(Exception):
    """Ctrl-C during the measurement."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``threadline scale``; every help text names its default."""
    parser.add_argument(
        "target",
        metavar="TARGET",
        help="the unit of work: MODULE:FUNCTION or path/to/file.py:FUNCTION (no arguments)",
    )
    here = ",".join(map(str, parse_workers(None)))
    parser.add_argument(
        "--workers",
        metavar="N,N,...",
        help="worker counts; 1 is always included "
        f"(default: 1, 2, 4, ... up to the CPU count, and the CPU count: {here} here)",
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        action="append",
        default=[],
        help="also measure on this interpreter; repeatable (default: only the running one)",
    )
    parser.add_argument(
        "--mode",
        default="threads,processes",
        metavar="MODES",
        help="threads, processes or both (default: %(default)s)",
    )
    parser.add_argument(
        "--scaling",
        choices=("weak", "strong"),
        default="weak",
        help="weak: each worker does the same amount; strong: a fixed total is shared "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds per round for one worker; longer rounds are steadier (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        metavar="R",
        help="rounds per point: the table shows their median and spread (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.5,
        metavar="S",
        help="warm-up seconds, which also time one unit (default: %(default)s)",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write every figure and raw sample (default: none)"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="write speedup against workers; needs matplotlib (default: none)",
    )
    parser.add_argument(
        "--table", metavar="FILE", help="also write the table as plain text (default: none)"
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress display (default: progress and the unit's output on stderr)",
    )


def parse_workers(text: str | None) -> list[int]:
    if text is None:
        cpus = os.cpu_count() or 1
        counts = [1]
        while counts[-1] * 2 <= cpus:
            counts.append(counts[-1] * 2)
        if counts[-1] != cpus:
            counts.append(cpus)
        return counts
    chosen = {1}
    for raw in text.split(","):
        part = raw.strip()
        if not part.isdigit() or int(part) < 1:
            raise ScaleError(f"--workers: {part!r} is not a positive integer (in {text!r})")
        chosen.add(int(part))
    return sorted(chosen)


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("threads", "processes")]
    if bad or not modes:
        raise ScaleError(f"--mode: expected threads and/or processes, got {text!r}")
    return sorted(set(modes), key=("threads", "processes").index)


def check_interpreter(path: str) -> str:
    """The interpreter's absolute path, if it is a Python threadline can run on."""
    found = shutil.which(path)
    if found is None:
        raise ScaleError(f"--python: no such interpreter: {path!r}")
    try:
        done = subprocess.run(
            [found, "-c", "import sys; sys.stdout.write('%d %d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        major, minor = map(int, done.stdout.split())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        raise ScaleError(f"--python: {path!r} is not a Python interpreter") from None
    if (major, minor) < (3, 11):
        raise ScaleError(f"--python: {path!r} is Python {major}.{minor}; threadline needs 3.11+")
    return found


def check_output(option: str, path: str | None) -> None:
    if path is None:
        return
    if Path(path).is_dir():
        raise ScaleError(f"{option}: {path!r} is a folder; give a file name")
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise ScaleError(f"{option}: the folder {str(folder)!r} does not exist")


def check_number(option: str, value: float, minimum: float) -> None:
    if not value >= minimum:  # also NaN
        raise ScaleError(f"{option} must be >= {minimum}, got {value!r}")


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ScaleError as exc:
        print(f"threadline scale: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _Interrupted as exc:
        print(f"threadline scale: interrupted {exc}; no report written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("threadline scale: interrupted; no report written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    try:
        _target.split(args.target)
    except _target.TargetError as exc:
        raise ScaleError(str(exc)) from None
    workers = parse_workers(args.workers)
    modes = parse_modes(args.mode)
    check_number("--duration", args.duration, 0.001)
    check_number("--warmup", args.warmup, 0.0)
    check_number("--rounds", args.rounds, 1)
    check_output("--json", args.json)
    check_output("--plot", args.plot)
    check_output("--table", args.table)
    if args.plot:
        try:
            import matplotlib  # noqa: F401, PLC0415 - an optional extra
        except ImportError:
            raise ScaleError("--plot needs matplotlib: pip install 'threadline[scale]'") from None
    interpreters = [sys.executable] + [check_interpreter(p) for p in args.python]
    settings = {
        "target": args.target,
        "workers": workers,
        "modes": modes,
        "scaling": args.scaling,
        "duration": args.duration,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "cwd": os.getcwd(),
    }
    progress = _Progress(len(interpreters) * len(modes) * len(workers) * args.rounds, args.quiet)
    try:
        reports = [_report.analyse(_measure(python, settings, progress)) for python in interpreters]
    except KeyboardInterrupt:
        raise _Interrupted(
            f"after {progress.done} of {progress.total} rounds (nothing is reported "
            "from an incomplete run)"
        ) from None
    finally:
        progress.close()
    created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    document = _report.build(settings, reports, created)
    if not _report.print_rich(document):
        print(_report.plain_table(document), end="")
    outputs = [
        (args.json, _report.json_writer(document)),
        (args.plot, _report.plot_writer(document)),
        (args.table, _report.text_writer(_report.plain_table(document))),
    ]
    staged: list[tuple[str, str]] = []
    try:
        for path, write in outputs:
            if path:
                staged.append((_report.stage(path, write), path))
    except BaseException:
        _report.discard(staged)
        raise
    _report.commit(staged)
    return 0


def _environment(tmp: str) -> dict[str, str]:
    """The environment for a measuring subprocess: ``threadline`` importable
    from a folder that holds nothing else, so another interpreter does not
    pick up this one's installed packages."""
    package = Path(__file__).resolve().parents[1]
    link = Path(tmp, "path", "threadline")
    link.parent.mkdir()
    try:
        link.symlink_to(package, target_is_directory=True)
    except OSError:  # no symlinks (some Windows setups): copy it
        shutil.copytree(package, link, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(link.parent), env.get("PYTHONPATH")) if p)
    return env


def _measure(python: str, settings: dict[str, Any], progress: _Progress) -> dict[str, Any]:
    """Run the protocol in *python* and return its raw result."""
    xoptions = [
        f"-X{k}={v}" if v is not True else f"-X{k}" for k, v in sys._xoptions.items() if k == "gil"
    ]
    with tempfile.TemporaryDirectory() as tmp:
        env = _environment(tmp)
        env["PYTHONUNBUFFERED"] = "1"  # a crash loses none of the unit's last words
        out = os.path.join(tmp, "result.json")
        command = [python, *xoptions, "-m", "threadline.scale._runner", json.dumps(settings), out]
        progress.start(python)
        passed: list[str] = []
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            cwd=settings["cwd"],
            # away from the terminal's Ctrl-C: the runner stops its workers when told
            process_group=0 if os.name == "posix" else None,
        ) as proc:
            assert proc.stdout is not None
            try:
                for line in proc.stdout:
                    text, marker, event = line.partition(_runner.PROGRESS)
                    if text:  # the unit's own output (maybe without a newline)
                        passed.append(text if marker else line)
                        progress.echo(text + "\n" if marker else line)
                    if marker:
                        try:
                            progress.event(json.loads(event))
                        except ValueError:
                            pass
            except KeyboardInterrupt:
                _stop(proc)
                raise
        try:
            with open(out, encoding="utf-8") as f:
                raw: dict[str, Any] = json.load(f)
        except (OSError, ValueError):
            raise ScaleError(
                f"the measurement on {python} {_ended(proc.returncode)} without a result"
                + _tail(passed)
            ) from None
    if "error" in raw:
        raise _failure(python, raw["error"], passed)
    return raw


def _stop(proc: subprocess.Popen[str]) -> None:
    """Ask the runner to stop (SIGINT); after ``STOP_GRACE`` seconds or a
    second Ctrl-C, kill it.  Either way, then kill what is left of its
    process group (a worker process it could not stop) before reaping it,
    so that the group's id cannot have been reused.  Further Ctrl-Cs are
    ignored while it is killed."""
    try:
        if os.name == "posix":
            proc.send_signal(signal.SIGINT)
        else:  # no SIGINT to send: stop it at once
            proc.terminate()
        if not _exited(proc, STOP_GRACE):
            raise subprocess.TimeoutExpired(proc.args, STOP_GRACE)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        print("threadline scale: the measurement did not stop; killing it", file=sys.stderr)
        proc.kill()
    finally:
        with _sigint_ignored():
            if os.name == "posix":
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            proc.wait()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _exited(proc: subprocess.Popen[str], timeout: float) -> bool:
    """Whether *proc* exits within *timeout* seconds, left unreaped where
    the platform allows (its id stays taken)."""
    if not hasattr(os, "waitid"):
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _ended(returncode: int | None) -> str:
    """``exited with status 3`` or ``was killed by signal 11 (SIGSEGV)``."""
    if returncode is not None and returncode < 0:
        try:
            name = f" ({signal.Signals(-returncode).name})"
        except ValueError:
            name = ""
        return f"was killed by signal {-returncode}{name}"
    return f"exited with status {returncode}"


def _tail(passed: list[str]) -> str:
    """The unit's last lines of output, to close an error message."""
    lines = "".join(passed).splitlines()[-OUTPUT_TAIL:]
    if not lines:
        return " (it printed nothing)"
    return "; its last output:\n" + "\n".join(f"  | {line}" for line in lines)


def _failure(python: str, error: dict[str, Any], passed: list[str]) -> Exception:
    """The runner's error as an exception to raise."""
    kind = error["kind"]
    if kind == "interrupted":
        return _Interrupted(f"(the measurement on {python} was stopped)")
    if kind == "target":
        return ScaleError(f"cannot load the target on {python}: {error['message'].rstrip()}")
    where = f" ({error['where']})" if error.get("where") else ""
    if kind == "exit":
        return ScaleError(
            f"the unit of work exited with status {error['status']} (it raised "
            f"{error['message']}) on {python}{where}" + _tail(passed)
        )
    if kind == "crash":
        ended = _ended(error["status"]).replace("exited with status", "died with exit code")
        return ScaleError(
            f"{error['message']} {ended} without reporting, on {python}{where}" + _tail(passed)
        )
    return ScaleError(
        f"the unit of work raised on {python}{where}:\n{error['message'].rstrip()}" + _tail(passed)
    )


class _Progress:
    """What is being measured, on stderr: rich's bar when rich is installed
    and stderr is a terminal, otherwise one line per interpreter and mode."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.total = total
        self.done = 0
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None
        self.last = ""
        if quiet or not sys.stderr.isatty():
            return
        try:
            from rich.progress import Progress  # noqa: PLC0415 - an optional extra
        except ImportError:
            return
        self.bar = Progress(transient=True)
        self.task = self.bar.add_task("measuring", total=total)
        self.bar.start()

    def start(self, python: str) -> None:
        self.python = python
        self.say(f"measuring on {python}")

    def say(self, text: str) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(self.task, description=text)
        else:
            print(text, file=sys.stderr, flush=True)

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] == "calibrated":
            self.say(
                f"  one unit takes {event['unit_seconds'] * 1e3:.3g} ms; "
                f"{event['units']} units per worker-round"
            )
        elif event["event"] == "round":
            self.done += 1
            key = f"  {event['mode']}, {event['workers']} worker(s)"
            if self.bar is not None:
                self.bar.update(self.task, advance=1, description=key.strip())
            elif key != self.last:
                self.last = key
                self.say(key)

    def echo(self, line: str) -> None:
        if self.bar is not None:
            self.bar.console.print(line.rstrip("\n"), markup=False, highlight=False)
        else:
            sys.stderr.write(line)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
