"""The argument parser of every `cairn` command line: one that never repeats what it refuses.

argparse answers arguments it does not know with "unrecognized arguments: <them all>". Someone
who types their recovery words after `cairn restore` would then find them on the terminal, in
its scrollback and in a CI log; the words are read only from standard input or a file.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

UNRECOGNIZED = "unrecognized arguments"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        if message.startswith(UNRECOGNIZED):
            message = (
                f"{UNRECOGNIZED} (not repeated here). Recovery words are never given on the "
                "command line: type them when asked, or use --words-file"
            )
        super().error(message)


class CommandExit(Exception):
    """Ends a command with `code` (cairn.exitcodes) and one line for the user."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
