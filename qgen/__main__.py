"""`python -m qgen` runs the command line."""

import os
import sys

from qgen.cli import main

status = main()
if status == 130:
    # Interrupted (Ctrl-C), already reported and cleaned up. Under `-m` CPython may still end the process with
    # SIGINT (status -2) when its own record of an unhandled KeyboardInterrupt is set: 5 of 6 interrupted
    # `python -m qgen simulate` runs did, never the `qgen` script (whose SystemExit exits directly). Exit now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
sys.exit(status)
