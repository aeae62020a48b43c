"""A thread pool maps a small pure-Python function over records."""

from concurrent.futures import ThreadPoolExecutor


def score(record: tuple[int, str]) -> int:
    key, text = record
    total = 0
    for ch in text:
        total = (total * 31 + ord(ch)) % 1_000_003
    return total ^ key


records = [(i, f"record-{i}-" * 4) for i in range(6_000)]
with ThreadPoolExecutor(4) as pool:
    print(sum(pool.map(score, records, chunksize=64)))
