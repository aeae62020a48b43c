"""A class attribute used as a shared counter."""

import threading


class Registry:
    created = 0


def make():
    Registry.created += 1


threads = [threading.Thread(target=make) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
