"""Structured tasks: a group that waits for its tasks, cancels them on the
first failure or at a deadline, and reports a deadlock instead of hanging.

    python examples/task_groups.py
"""

from __future__ import annotations

import hashlib

import threadline as tl


def digest(n: int) -> str:
    """A stand-in for real work."""
    data = str(n).encode()
    for _ in range(2_000):
        data = hashlib.sha256(data).digest()
    return data.hex()[:12]


def fan_out() -> None:
    with tl.TaskGroup() as tg:
        tasks = [tg.go(digest, n) for n in range(8)]
    # Leaving the block waited for every task.
    print("digests:", ", ".join(t.result() for t in tasks[:3]), "...")


def first_failure_cancels_the_rest() -> None:
    never: tl.Channel[int] = tl.Channel()

    def fails() -> None:
        tl.sleep(0.05)
        raise ValueError("bad input")

    try:
        with tl.TaskGroup() as tg:
            waiting = tg.go(never.recv)  # would wait forever
            tg.go(fails)
    except* ValueError as group:
        print("the group failed with:", [str(e) for e in group.exceptions])
    print("the waiting task was cancelled:", waiting.done())


def deadline() -> None:
    try:
        with tl.timeout(0.1), tl.TaskGroup() as tg:
            tg.go(tl.sleep, 10)
            tg.go(tl.Channel[int]().recv)
    except TimeoutError as exc:
        print("deadline:", exc)


def deadlock() -> None:
    ping: tl.Channel[str] = tl.Channel()
    pong: tl.Channel[str] = tl.Channel()

    def player(inbox: tl.Channel[str], outbox: tl.Channel[str]) -> None:
        outbox.send(inbox.recv())  # both wait to receive first: nobody sends

    try:
        with tl.TaskGroup() as tg:
            tg.go(player, ping, pong)
            tg.go(player, pong, ping)
    except tl.DeadlockError as exc:
        print(exc)


def main() -> None:
    fan_out()
    first_failure_cancels_the_rest()
    deadline()
    deadlock()


if __name__ == "__main__":
    main()
