"""A bound Event.wait that times out (returns False) makes no edge: the
write after it races with the read in the other thread, which sets the
event only afterwards."""

import threading


class Box:
    x = 0


box = Box()
ev = threading.Event()
done = threading.Event()


def worker():
    wait = ev.wait
    wait(timeout=0.01)  # False: nobody has set it yet
    box.x = 1
    done.set()


t = threading.Thread(target=worker)
t.start()
print(box.x)
t.join()
ev.set()
