"""Buffered with room: a send does not wait for any receive, so what the
receiver did before receiving is not ordered before the sender's next
step (only the unbuffered and the full-buffer cases are)."""

import threading

import threadline as tl


class Box:
    text = ""


box = Box()
c = tl.Channel(10)


def f():
    box.text = "hello"
    c.recv()


t = threading.Thread(target=f)
c.send(0)
t.start()
print(box.text)  # the send completed without f: a race
t.join()
