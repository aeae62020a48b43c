"""A value received through select() is ordered after its send."""

import threading

import threadline as tl


class Msg:
    n = 0


a, b = tl.Channel(), tl.Channel()


def produce():
    m = Msg()
    m.n = 5
    b.send(m)


t = threading.Thread(target=produce)
t.start()
sel = tl.select(a, b)
sel.value.n += 1
t.join()
