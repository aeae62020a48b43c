"""``python -m threadline``: the same as the ``threadline`` command."""

import sys

from threadline._cli import main

sys.exit(main())
