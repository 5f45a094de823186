"""``python -m center.cli`` is ``starling``."""

import sys

from ._main import main

sys.exit(main())
