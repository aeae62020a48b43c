"""A bank with a data race: deposits from several threads update the
balance without a lock.  On a GIL build it may even print the right total,
which is exactly why the race is dangerous: `threadline race` reports it
anyway (exit status 66).

    threadline race examples/race/bank_racy.py
"""

import threading


class Account:
    def __init__(self) -> None:
        self.balance = 0

    def deposit(self, amount: int) -> None:
        self.balance += amount  # read, add, write: another thread can interleave


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
