"""os.fork() orders the child after everything every thread did before the
fork (the forking thread holds the GIL; a free-threaded build stops the
world; the other threads do not exist in the child).  Seen in filelock's
test_fork_ownership: the child's at-fork handler writes fields that a
parent thread read before the fork."""

import os
import sys
import threading
import time


class State:
    v = 0


s = State()
go = threading.Event()


def worker() -> None:
    s.v = 1  # parent's thread, before the fork
    go.wait()


t = threading.Thread(target=worker)
t.start()
time.sleep(0.3)  # no synchronisation with worker: only the fork orders what follows
pid = os.fork()
if pid == 0:
    s.v = 2  # child: after the fork, so after worker's write
    sys.exit(0)
go.set()
t.join()
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
