"""Entry point of the bundled app: the same `cairn` command as the installed package.

A bundle has no `python -m` and no other console scripts, so `cairn demo` starts its backup
server as `cairn backupd serve ...` through this same executable (see cairn.demo). `cairn devnet`
and the restore worker are already subcommands of `cairn` itself.
"""

import sys
from collections.abc import Sequence


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["backupd"]:
        from cairn.server.cli import main as backupd_main

        return backupd_main(list(argv[1:]))
    from cairn.cli import main as cairn_main

    return cairn_main(list(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
