"""`python -m reelfix_resolve restore ...` (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
