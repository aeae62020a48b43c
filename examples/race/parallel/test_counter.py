from counter import Counter

shared = Counter()  # one object for all the threads that run the test


def test_increment() -> None:
    for _ in range(100):
        shared.increment()
