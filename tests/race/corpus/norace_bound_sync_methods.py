"""Sync methods fetched as bound methods and called later (pytest's
assertion rewriting turns ``assert ev.wait(timeout=5)`` into
``w = ev.wait; w(timeout=5)``): the edges are those of the direct calls."""

import threading


class Box:
    x = 0
    y = 0
    z = 0


box = Box()
ev = threading.Event()
lock = threading.Lock()
cond = threading.Condition()
ready = []


def worker():
    wait = ev.wait
    assert wait(timeout=5)  # set -> wait
    box.x = 1
    acquire, release = lock.acquire, lock.release
    acquire()
    box.y += 1
    release()
    with cond:
        box.z = 1
        ready.append(True)
        notify = cond.notify
        notify()


t = threading.Thread(target=worker)
t.start()
print(box.x)  # before set()
ev.set()
with lock:
    box.y += 1
with cond:
    wait_for = cond.wait_for
    wait_for(lambda: ready, timeout=5)
    print(box.z)
t.join()
