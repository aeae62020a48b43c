"""A nonlocal counter updated under a lock."""

import threading


def main():
    count = 0
    lock = threading.Lock()

    def hit():
        nonlocal count
        with lock:
            count += 1

    threads = [threading.Thread(target=hit) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count


print(main())
