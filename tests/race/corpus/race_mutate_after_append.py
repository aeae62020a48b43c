"""An object appended to a deque is changed by its sender afterwards: the
hand-off orders only what was written before the append."""

import threading
import time
from collections import deque


class Job:
    def __init__(self):
        self.state = "new"


jobs = deque()


def consume():
    while not jobs:
        time.sleep(0.0001)
    job = jobs.popleft()
    print(job.state)


t = threading.Thread(target=consume)
t.start()
job = Job()
jobs.append(job)
job.state = "changed"  # after the hand-off: races with the consumer's read
t.join()
