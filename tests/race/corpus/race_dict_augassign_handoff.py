"""Two threads run ``counts[k] += 1`` on the same key, one after the other
in this run: nothing orders them, and the dict's hand-off of what it holds
does not order its own items."""

import threading
import time


class Item:
    def __init__(self):
        self.ready = True


counts = {"jobs": 0}
items = {}


def work(name):
    items[name] = Item()  # a key of its own: no race
    counts["jobs"] += 1  # read, add, write back: can lose an update
    print(items[name].ready)


first = threading.Thread(target=work, args=("a",))
second = threading.Thread(target=work, args=("b",))
first.start()
time.sleep(0.05)  # a benign schedule: still a race
second.start()
first.join()
second.join()
