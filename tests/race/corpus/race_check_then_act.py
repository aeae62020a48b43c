"""Check-then-act on a dict key from two threads: both can find the key
missing and both store an entry, one overwriting the other's."""

import threading
import time


class Session:
    def __init__(self, owner):
        self.owner = owner


sessions = {}


def login(owner):
    if "user" not in sessions:  # checked ...
        sessions["user"] = Session(owner)  # ... then acted on, without a lock
    print(sessions["user"].owner)


first = threading.Thread(target=login, args=("a",))
second = threading.Thread(target=login, args=("b",))
first.start()
time.sleep(0.05)  # a benign schedule: still a race
second.start()
first.join()
second.join()
