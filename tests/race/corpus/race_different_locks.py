"""Each thread holds a lock, but not the same one."""

import threading


class Account:
    def __init__(self):
        self.balance = 0


account = Account()


def deposit(lock):
    with lock:
        account.balance += 10


threads = [threading.Thread(target=deposit, args=(threading.Lock(),)) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
