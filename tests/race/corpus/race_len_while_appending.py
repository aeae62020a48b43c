"""The main thread reads len() while a thread still appends."""

import threading

items = []


def fill():
    for i in range(10):
        items.append(i)


t = threading.Thread(target=fill)
t.start()
size = len(items)  # not ordered after the appends
t.join()
