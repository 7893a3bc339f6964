"""Checks on a recovery phrase as the user types it: unknown words, completions, checksum."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import cache

from mnemonic import Mnemonic

from cairn.keys import closest_words

WORD_COUNTS: tuple[int, ...] = (12, 24)


@cache
def _mnemonic() -> Mnemonic:
    return Mnemonic("english")


@cache
def wordlist() -> tuple[str, ...]:
    """The 2,048 English BIP39 words, in order."""
    return tuple(_mnemonic().wordlist)


@cache
def _wordset() -> frozenset[str]:
    return frozenset(wordlist())


def normalise_word(word: str) -> str:
    return unicodedata.normalize("NFKD", word).strip().lower()


def is_known(word: str) -> bool:
    return normalise_word(word) in _wordset()


def completions(prefix: str, limit: int = 8) -> list[str]:
    """BIP39 words starting with `prefix` (four letters always identify one word)."""
    p = normalise_word(prefix)
    if not p:
        return []
    return [w for w in wordlist() if w.startswith(p)][:limit]


def split_phrase(text: str) -> list[str]:
    """The words of a pasted phrase, tolerant of commas, numbering and line breaks."""
    cleaned = text.replace(",", " ").replace(";", " ")
    words = []
    for raw in cleaned.split():
        token = raw.strip().rstrip(".)")
        if not token or token.isdigit():
            continue
        words.append(normalise_word(token))
    return words


class Verdict(Enum):
    INCOMPLETE = "incomplete"
    UNKNOWN_WORDS = "unknown_words"
    BAD_CHECKSUM = "bad_checksum"
    VALID = "valid"


@dataclass(frozen=True)
class PhraseCheck:
    """What is wrong with a phrase, if anything, in words a user can act on."""

    verdict: Verdict
    unknown_positions: tuple[int, ...]
    message: str

    @property
    def valid(self) -> bool:
        return self.verdict is Verdict.VALID


def could_become_word(text: str) -> bool:
    """True while `text` is still the beginning of some BIP39 word."""
    p = normalise_word(text)
    return any(w.startswith(p) for w in wordlist())


def check_phrase(
    words: tuple[str, ...] | list[str], expected_count: int, *, typing_index: int | None = None
) -> PhraseCheck:
    """Judge `words` (one entry per field, "" for an empty field) for a phrase of `expected_count`.

    The word at `typing_index` is being typed: while it is still the start of a real word it
    counts as unfinished rather than unknown.
    """
    normalised = [normalise_word(w) for w in words]
    if typing_index is not None and 0 <= typing_index < len(normalised):
        typed = normalised[typing_index]
        if typed and typed not in _wordset() and could_become_word(typed):
            normalised[typing_index] = ""
    unknown = tuple(i for i, w in enumerate(normalised) if w and w not in _wordset())
    if unknown:
        listed = ", ".join(f"#{i + 1} “{normalised[i]}”" for i in unknown[:3])
        more = "" if len(unknown) <= 3 else f" and {len(unknown) - 3} more"
        guesses = closest_words(normalised[unknown[0]])
        hint = f" Did you mean {' or '.join(guesses)}?" if guesses else ""
        return PhraseCheck(
            Verdict.UNKNOWN_WORDS,
            unknown,
            f"Not a recovery word: {listed}{more}.{hint}",
        )
    filled = sum(1 for w in normalised if w)
    if filled < expected_count or len(normalised) != expected_count:
        return PhraseCheck(Verdict.INCOMPLETE, (), f"{filled} of {expected_count} words entered.")
    if not _mnemonic().check(" ".join(normalised)):
        return PhraseCheck(
            Verdict.BAD_CHECKSUM,
            (),
            "Every word is valid, but together they are not a recovery phrase: "
            "one is probably wrong or out of order. Compare them with your paper.",
        )
    return PhraseCheck(Verdict.VALID, (), "The recovery phrase is correct.")
