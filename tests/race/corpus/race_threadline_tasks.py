"""Two threadline tasks write the same attribute."""

import threadline as tl


class Score:
    points = 0


score = Score()


def win():
    score.points += 1


with tl.TaskGroup() as tg:
    tg.go(win)
    tg.go(win)
