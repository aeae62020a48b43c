"""A module that corpus programs import lazily, from their threads
(instrumented: same folder): its body builds what they read."""

TABLE = {}
TABLE["answer"] = 42
LIMIT = 10
names = ["a", "b"]
