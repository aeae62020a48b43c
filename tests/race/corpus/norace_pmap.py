"""pmap over objects: each item is changed by one call, results read by the
consumer after they are yielded."""

import threadline as tl


class Cell:
    def __init__(self, n):
        self.n = n


def bump(cell):
    cell.n += 1
    return cell


for cell in tl.pmap(bump, [Cell(i) for i in range(10)], backend="threads", workers=3):
    cell.n *= 2
