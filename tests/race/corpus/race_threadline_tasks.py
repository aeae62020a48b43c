"""Two threadline tasks write the same attribute (while both run: a worker
thread runs its tasks one after another, which would order them)."""

import threading

import threadline as tl


class Score:
    points = 0


score = Score()
started = [threading.Event(), threading.Event()]


def win(n):
    started[n].set()
    started[1 - n].wait(10)  # both run at once, on two workers
    score.points += 1


with tl.TaskGroup() as tg:
    tg.go(win, 0)
    tg.go(win, 1)
