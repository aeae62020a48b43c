"""Tasks write their own slots; the owner reads them after the group."""

import threadline as tl

results = {}
results["base"] = 10


def work(i):
    results[i] = results["base"] + i


with tl.TaskGroup() as tg:
    for i in range(3):
        tg.go(work, i)
print(results[0] + results[1] + results[2])
task_value = {}


def compute():
    task_value["v"] = 1
    return 1


with tl.TaskGroup() as tg:
    t = tg.go(compute)
    t.result()
    print(task_value["v"])
