"""A module the corpus programs import (instrumented: same folder)."""

import threading

counter = 0
lock_made_at_import = threading.Lock()
