"""``python -m smallmines_classic.cli``: the ``smallmines`` command."""

import sys

from .main import main

sys.exit(main())
