"""Recovery phrase checks behind the restore page."""

from __future__ import annotations

from cairn.onboarding.phrase import Verdict, check_phrase, completions, split_phrase, wordlist

from .conftest import RESTORE_WORDS


def test_wordlist_is_bip39_english():
    words = wordlist()
    assert len(words) == 2048
    assert words[0] == "abandon" and words[-1] == "zoo"


def test_completions_by_prefix():
    assert completions("aban") == ["abandon"]
    assert completions("zo") == ["zone", "zoo"]
    assert completions("") == []
    assert completions("qqq") == []


def test_split_phrase_tolerates_numbering_commas_and_lines():
    text = "1. Abandon, 2) abandon\n3 abandon  about"
    assert split_phrase(text) == ["abandon", "abandon", "abandon", "about"]


def test_unknown_words_are_located():
    words = list(RESTORE_WORDS)
    words[2] = "abandn"
    words[7] = "bitcoinz"
    result = check_phrase(words, 12)
    assert result.verdict is Verdict.UNKNOWN_WORDS
    assert result.unknown_positions == (2, 7)
    assert "#3" in result.message and "#8" in result.message


def test_unknown_words_are_reported_before_the_phrase_is_complete():
    result = check_phrase(["abandon", "xyz", "", ""], 12)
    assert result.verdict is Verdict.UNKNOWN_WORDS


def test_incomplete_phrase():
    result = check_phrase(["abandon"] * 5 + [""] * 7, 12)
    assert result.verdict is Verdict.INCOMPLETE
    assert "5 of 12" in result.message


def test_bad_checksum():
    assert check_phrase(["abandon"] * 12, 12).verdict is Verdict.BAD_CHECKSUM


def test_valid_phrases():
    assert check_phrase(RESTORE_WORDS, 12).valid
    assert check_phrase(("abandon",) * 23 + ("art",), 24).valid
    assert check_phrase([w.upper() for w in RESTORE_WORDS], 12).valid


def test_unknown_word_suggests_the_closest_ones():
    words = [*RESTORE_WORDS[:11], "abuot"]
    assert "about" in check_phrase(words, 12).message


def test_a_word_being_typed_is_not_unknown_yet():
    words = ["abandon", "aba", *[""] * 10]
    assert check_phrase(words, 12).verdict is Verdict.UNKNOWN_WORDS
    assert check_phrase(words, 12, typing_index=1).verdict is Verdict.INCOMPLETE
    words[1] = "abx"
    assert check_phrase(words, 12, typing_index=1).verdict is Verdict.UNKNOWN_WORDS
