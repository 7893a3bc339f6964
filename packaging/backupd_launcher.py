"""Entry point of the server bundle: the same `cairn-backupd` command as the installed package."""

import sys

from cairn.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
