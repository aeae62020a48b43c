"""The concurrent prime sieve from the Go tour, with threads and channels.

A generator thread sends 2, 3, 4, ... down an unbuffered channel.  The main
thread takes the first number that reaches it -- a prime -- and splices a new
filter thread onto the end of the chain that drops the multiples of that
prime::

    generate -> filter(2) -> filter(3) -> filter(5) -> ... -> main

What this shows beyond the Go original is a clean shutdown.  The generator
runs forever, so when main has its N primes it closes a ``done`` channel;
the generator is waiting in ``select`` on "send the next number" or "done",
sees done, stops and closes its output.  From there close propagates *down*
the chain: every filter's ``for n in inp`` ends when its input is closed and
drained, and its ``with out:`` block closes its own output.  Main drains the
numbers still in flight from the last channel until that one is closed too,
and then every thread has finished and is joined.

    python examples/prime_sieve.py        # the first 30 primes
    python examples/prime_sieve.py 100    # the first 100
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import threadline as tl


def generate(out: tl.Channel[int], done: tl.Channel[None]) -> None:
    """Send 2, 3, 4, ... to *out* until *done* is closed; then close *out*."""
    with out:
        n = 2
        while True:
            # Either hand n to the first filter, or notice that done is closed
            # (a receive from a closed channel is always ready).
            if tl.select((out, n), done).index == 1:
                return
            n += 1


def sieve_filter(inp: tl.Channel[int], out: tl.Channel[int], prime: int) -> None:
    """Pass on the numbers from *inp* that *prime* does not divide.

    Ends when *inp* is closed and drained, and then closes *out*: this is
    how the shutdown travels down the chain.
    """
    with out:
        for n in inp:
            if n % prime:
                out.send(n)


def start(target: Callable[..., object], *args: object, name: str) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name)
    thread.start()
    return thread


def primes(count: int) -> list[int]:
    """The first *count* primes, computed by a chain of count filter threads."""
    done: tl.Channel[None] = tl.Channel()
    ch: tl.Channel[int] = tl.Channel()
    threads = [start(generate, ch, done, name="generate")]
    found = []
    for _ in range(count):
        prime = ch.recv()
        found.append(prime)
        nxt: tl.Channel[int] = tl.Channel()
        threads.append(start(sieve_filter, ch, nxt, prime, name=f"filter({prime})"))
        ch = nxt

    done.close()  # stop the generator ...
    for _ in ch:  # ... and let the close ripple down to us, draining what is in flight
        pass
    for thread in threads:
        thread.join()
    assert not any(t.is_alive() for t in threads)
    return found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        count = int(args[0]) if args else 30
    except ValueError:
        print(f"usage: prime_sieve.py [COUNT], COUNT an integer, got {args[0]!r}")
        return 2
    if count < 1:
        print(f"COUNT must be >= 1, got {count}")
        return 2

    found = primes(count)
    print(f"the first {count} primes:")
    for row in range(0, count, 10):
        print("  " + " ".join(f"{p:>5}" for p in found[row : row + 10]))
    filters = "filter" if count == 1 else "filters"
    print(f"{count + 1} threads (1 generator, {count} {filters}) shut down and joined")
    return 0


if __name__ == "__main__":
    sys.exit(main())
