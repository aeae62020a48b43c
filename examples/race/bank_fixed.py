"""The same bank, fixed: the balance is changed under a lock, so every
deposit happens before the next one.  `threadline race` finds nothing
(exit status 0).

    threadline race examples/race/bank_fixed.py
"""

import threading


class Account:
    def __init__(self) -> None:
        self.balance = 0
        self.lock = threading.Lock()

    def deposit(self, amount: int) -> None:
        with self.lock:
            self.balance += amount


def customer(account: Account) -> None:
    for _ in range(1_000):
        account.deposit(1)


account = Account()
customers = [threading.Thread(target=customer, args=(account,)) for _ in range(4)]
for c in customers:
    c.start()
for c in customers:
    c.join()
print(f"balance: {account.balance} (expected 4000)")
