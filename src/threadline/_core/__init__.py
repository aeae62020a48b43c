"""threadline's core: parking (waiters) and cancellation scopes.

Everything that blocks in threadline blocks here, so one mechanism serves
channels, select, tasks and the sync helpers alike.
"""
