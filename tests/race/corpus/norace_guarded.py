"""tl.Guarded: the value is only touched inside `with`."""

import threading

import threadline as tl

box = tl.Guarded({"n": 0})


def work():
    for _ in range(10):
        with box as value:
            value["n"] = value["n"] + 1


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
