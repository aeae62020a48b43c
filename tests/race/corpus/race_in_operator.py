"""`key in d` while another thread inserts into d."""

import threading

index = {}


def add():
    index["k"] = 1


t = threading.Thread(target=add)
t.start()
print("k" in index)
t.join()
