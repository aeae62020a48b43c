"""After os.fork() the parent's threads go on in the parent only; a parent
thread's write after the fork is not ordered with the parent's own read."""

import os
import threading
import time


class State:
    v = 0


s = State()


def worker():
    time.sleep(0.2)
    s.v = 1  # in the parent, after the fork


t = threading.Thread(target=worker)
t.start()
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print(s.v)  # races with worker's write: nothing orders them
t.join()
