"""Threads import a module for the first time at once, each in its own
way, and read what its body built: the end of the body happens before
every import that returns the module."""

import importlib
import threading

results = []


def by_statement():
    import corpus_lazy_table  # noqa: PLC0415 (imported lazily, by the threads)

    results.append(corpus_lazy_table.TABLE["answer"])


def by_from():
    from corpus_lazy_table import TABLE, names  # noqa: PLC0415

    results.append(TABLE["answer"] + len(names) - 2)


def by_import_module():
    table = importlib.import_module("corpus_lazy_table")
    results.append(table.LIMIT + 32)


def by_dunder_import():
    table = __import__("corpus_lazy_table")
    results.append(sum(table.TABLE.values()))


ways = (by_statement, by_from, by_import_module, by_dunder_import)
threads = [threading.Thread(target=way) for way in ways for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert results == [42] * 8, results
