"""`python -m pyruntime`: see pyruntime.cli."""

import sys

from .cli import main

sys.exit(main())
