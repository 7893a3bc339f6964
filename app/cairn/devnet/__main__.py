import sys

from cairn.devnet.cli import main

sys.exit(main())
