"""Tasks on one worker thread run one after another: per-thread state that
consecutive tasks share (a registry keyed by thread, an object cached in a
threading.local) is not raced on."""

import threading
from concurrent.futures import ThreadPoolExecutor

import threadline as tl


class Conn:
    def __init__(self):
        self.uses = 0


local = threading.local()
registry = {}


def task():
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = local.conn = Conn()
    conn.uses += 1
    me = threading.get_ident()
    registry[me] = registry.get(me, 0) + 1


with ThreadPoolExecutor(2) as pool:
    for f in [pool.submit(task) for _ in range(20)]:
        f.result()

with tl.TaskGroup() as tg:
    for _ in range(20):
        tg.go(task)
print(sum(registry.values()))
