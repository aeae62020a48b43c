"""select: only the case that took effect is an edge.  A value waiting in
a channel whose case was not chosen orders nothing.  (Ready cases are
chosen at random: over ten rounds, case ``a`` is chosen at least once but
with odds of 1 in 1024.)"""

import threading
import time

import threadline as tl


class Box:
    n = 0


for _ in range(10):
    box = Box()
    a = tl.Channel(1)
    b = tl.Channel(1)

    def writer(box=box, b=b):
        box.n = 1
        b.send("b")

    a.send("a")
    t = threading.Thread(target=writer)
    t.start()
    while len(b) == 0:  # no edge: a snapshot
        time.sleep(0.001)
    sel = tl.select(a, b, timeout=5)
    print(sel.index, box.n)  # unordered with writer's box.n = 1 when a was chosen
    t.join()
