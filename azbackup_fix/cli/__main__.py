"""``python -m azbackup_fix.cli``."""

import sys

from .main import main

sys.exit(main())
