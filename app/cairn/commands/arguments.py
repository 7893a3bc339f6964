"""The argument parser of every `cairn` command line: one that never repeats what it refuses.

argparse answers arguments it does not know with "unrecognized arguments: <them all>". Someone
who types their recovery words after `cairn restore` would then find them on the terminal, in
its scrollback and in a CI log; the words are read only from standard input or a file.
"""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn, TextIO

from cairn.exitcodes import EXIT_USAGE

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


def standard_input(what: str) -> TextIO:
    """Standard input, for reading `what`; CommandExit when the program was started with it
    closed (`<&-`)."""
    if sys.stdin is None:
        raise CommandExit(EXIT_USAGE, f"standard input is closed: nothing to read {what} from")
    return sys.stdin


def stdin_is_terminal() -> bool:
    """Whether someone can answer at a terminal (never with standard input closed)."""
    return sys.stdin is not None and sys.stdin.isatty()


def decoded(data: bytes) -> str:
    """Bytes as text, what is not UTF-8 kept as lone surrogates: the check of that kind of
    input (words, labels) refuses it in words of its own, never a codec's."""
    return data.decode("utf-8", "surrogateescape")


def read_input(what: str, *, line: bool = False) -> str:
    """All of standard input (or its first line) as text (`decoded`)."""
    stream = standard_input(what)
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a text stream put in its place (a test, an embedding program)
        return stream.readline() if line else stream.read()
    return decoded(buffer.readline() if line else buffer.read())


def read_input_bytes(what: str, limit: int) -> bytes:
    """Up to `limit` bytes of standard input."""
    stream = standard_input(what)
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return stream.read(limit).encode("utf-8", "surrogateescape")
    data: bytes = buffer.read(limit)
    return data
