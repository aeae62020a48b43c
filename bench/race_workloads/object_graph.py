"""Threads relax a graph of node objects, each its own partition, then the
main thread reads the whole graph."""

import threading


class Node:
    def __init__(self, n: int) -> None:
        self.n = n
        self.value = float(n)
        self.edges: list[Node] = []


nodes = [Node(n) for n in range(2_000)]
for node in nodes:
    node.edges = [nodes[(node.n * 7 + k) % len(nodes)] for k in range(4)]


def relax(part: list[Node], rounds: int) -> None:
    for _ in range(rounds):
        for node in part:
            node.value = 0.5 * node.value + 0.5 * node.n


parts = [nodes[i::4] for i in range(4)]
threads = [threading.Thread(target=relax, args=(part, 10)) for part in parts]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(round(sum(node.value for node in nodes)))
