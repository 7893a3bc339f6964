"""`python -m cairn.server` is `cairn-backupd`."""

import sys

from cairn.server.cli import main

sys.exit(main())
