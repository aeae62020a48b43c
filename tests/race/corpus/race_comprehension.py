"""A comprehension reads a list while a thread overwrites an item."""

import threading

values = [1, 2, 3]


def bump():
    values[0] = 10


t = threading.Thread(target=bump)
t.start()
doubled = [v * 2 for v in values]
t.join()
