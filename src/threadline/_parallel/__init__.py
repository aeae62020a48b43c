"""Data parallelism: pmap (and, later, pipeline) on top of the runtime."""
