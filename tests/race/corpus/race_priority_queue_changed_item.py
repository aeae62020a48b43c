"""An item changed after its put, while it waits in a PriorityQueue: the
next put compares it with its own item, reading it unordered."""

import queue
import threading
import time


class Task:
    def __init__(self, priority):
        self.priority = priority

    def __lt__(self, other):
        return self.priority < other.priority


tasks = queue.PriorityQueue()
first = Task(5)


def later():
    while tasks.qsize() < 1:  # after the first put (qsize orders nothing)
        time.sleep(0.001)
    tasks.put(Task(1))  # compares with first


t = threading.Thread(target=later)
t.start()
tasks.put(first)
first.priority = 0  # while it is in the queue
t.join()
