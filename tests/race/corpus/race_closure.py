"""A closure variable written by two threads through `nonlocal`."""

import threading


def main():
    hits = 0

    def hit():
        nonlocal hits
        hits = hits + 1

    threads = [threading.Thread(target=hit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return hits


main()
