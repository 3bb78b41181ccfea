"""`python -m qgen` runs the command line."""

import sys

from qgen.cli import main

sys.exit(main())
