"""Unbuffered: a receive happens before the matching send completes (Go's
``a = "hello"; <-c`` in the goroutine, ``c <- 0; print(a)`` in main)."""

import threading

import threadline as tl


class Box:
    text = ""


box = Box()
c = tl.Channel()


def f():
    box.text = "hello"
    c.recv()


t = threading.Thread(target=f)
t.start()
c.send(0)
print(box.text)
t.join()
