"""``python -m servicewire``: the ``servicewire`` command."""

import sys

from servicewire.cli import main

sys.exit(main())
