"""`python -m cairn.upgrade` is `cairn-legacy-wallet`."""

import sys

from cairn.upgrade.cli import main

sys.exit(main())
