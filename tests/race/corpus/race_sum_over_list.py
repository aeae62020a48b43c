"""sum() over a list while a thread overwrites an item."""

import threading

numbers = [1, 2, 3]


def change():
    numbers[2] = 30


t = threading.Thread(target=change)
t.start()
print(sum(numbers))
t.join()
