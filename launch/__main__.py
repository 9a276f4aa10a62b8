"""``python -m vibetensor.launch ...`` is ``vibetensor-launch ...``."""

import sys

from .cli import main

sys.exit(main())
