"""set.add in a thread, len() of the set in another."""

import threading

seen = set()


def record():
    seen.add(1)


t = threading.Thread(target=record)
t.start()
print(len(seen))
t.join()
