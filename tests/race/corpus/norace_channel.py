"""Objects sent on a threadline channel belong to the receiver."""

import threading

import threadline as tl


class Msg:
    def __init__(self, n):
        self.n = n


ch = tl.Channel(2)


def produce():
    with ch:  # closing is a release too
        for i in range(5):
            m = Msg(i)
            m.n += 1
            ch.send(m)


t = threading.Thread(target=produce)
t.start()
for m in ch:
    m.n *= 2
t.join()
