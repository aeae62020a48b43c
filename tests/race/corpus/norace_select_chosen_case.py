"""select: the receive case that took effect is ordered after the send of
its value; the send case that took effect after the receive that made room."""

import threading

import threadline as tl


class Box:
    n = 0


box = Box()
data = tl.Channel()
room = tl.Channel(1)


def writer():
    box.n = 1
    tl.select((data, "x"), timeout=5)


t = threading.Thread(target=writer)
t.start()
sel = tl.select(data, room, timeout=5)
assert sel.index == 0
print(box.n)
t.join()
