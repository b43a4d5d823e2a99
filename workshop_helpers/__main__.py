"""`python -m workshop_helpers COMMAND`: see workshop_helpers.cli."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
