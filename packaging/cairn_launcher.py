"""Entry point of the bundled app: the same `cairn` command as the installed package."""

import sys

from cairn.cli import main

if __name__ == "__main__":
    sys.exit(main())
