"""Two tasks on a thread pool write the same attribute."""

from concurrent.futures import ThreadPoolExecutor


class Total:
    value = 0


total = Total()


def add(n):
    total.value = total.value + n


with ThreadPoolExecutor(2) as pool:
    futures = [pool.submit(add, i) for i in range(2)]
    for f in futures:
        f.result()
