"""Units of work for the command tests."""


def explode() -> None:
    1 / 0


def die_in_worker() -> None:
    """Fine in the measuring process, fatal in a worker process."""
    import multiprocessing  # noqa: PLC0415
    import os  # noqa: PLC0415

    if multiprocessing.parent_process() is not None:
        os._exit(3)


_calls = 0


def fail_later_in_worker() -> None:
    """Raises from the third call on, in a worker process only."""
    import multiprocessing  # noqa: PLC0415

    global _calls
    _calls += 1
    if multiprocessing.parent_process() is not None and _calls > 2:
        raise RuntimeError("worker gave up")


def noisy() -> None:
    """Writes undecodable bytes to stderr, without a newline."""
    import sys  # noqa: PLC0415

    sys.stderr.buffer.write(b"\xff\xfe")
    sys.stderr.flush()
