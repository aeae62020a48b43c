"""One thread iterates over a dict while another inserts keys."""

import threading
import time

table = {0: 0}


def insert():
    for i in range(1, 5):
        table[i] = i
        time.sleep(0.001)


t = threading.Thread(target=insert)
t.start()
for key in list(table):
    pass
t.join()
