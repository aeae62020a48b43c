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


def _in_worker_process() -> bool:
    import multiprocessing  # noqa: PLC0415

    return multiprocessing.parent_process() is not None


def exit_in_warm_up() -> None:
    import sys  # noqa: PLC0415

    print("leaving in the warm-up")
    sys.exit(3)


def exit_in_worker_thread() -> None:
    """Fine in the main thread (the warm-up), exits in a worker thread."""
    import sys  # noqa: PLC0415
    import threading  # noqa: PLC0415

    if threading.current_thread() is not threading.main_thread():
        print("leaving from a worker thread")
        sys.exit(4)


def exit_in_worker_process() -> None:
    import sys  # noqa: PLC0415

    if _in_worker_process():
        print("leaving from a worker process")
        sys.exit(5)


def crash_in_worker_process() -> None:
    import os  # noqa: PLC0415
    import signal  # noqa: PLC0415

    if _in_worker_process():
        print("crashing in a worker process")
        os.kill(os.getpid(), signal.SIGSEGV)


def hard_exit_in_worker_thread() -> None:
    """Ends the whole measuring process, from a worker thread."""
    import os  # noqa: PLC0415
    import threading  # noqa: PLC0415

    if threading.current_thread() is not threading.main_thread():
        print("os._exit(7) from a worker thread")
        os._exit(7)


def slow_and_recorded() -> None:
    """20 ms of sleep; the first call in each process records its pid in
    the folder named by THREADLINE_TEST_PIDS."""
    import os  # noqa: PLC0415
    import time  # noqa: PLC0415

    global _recorded
    if not _recorded:
        _recorded = True
        folder = os.environ["THREADLINE_TEST_PIDS"]
        with open(os.path.join(folder, str(os.getpid())), "w"):
            pass
    time.sleep(0.02)


_recorded = False


def deaf_to_ctrl_c() -> None:
    """Makes its process ignore SIGINT (from the main thread), and sleeps."""
    import signal  # noqa: PLC0415
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    slow_and_recorded()
    time.sleep(0.05)


def nothing() -> None:
    """So fast that the table's rates run into the millions."""
