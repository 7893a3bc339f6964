"""The invite code's one check, as the wizard, Settings, config.json and the CLI apply it."""

from __future__ import annotations

import json

import pytest

from cairn.config import ConfigError, load_config
from cairn.invitecode import checked_invite, invite_problem, normalise_invite
from cairn.usererrors import RefusedInput

CODE = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "typed", [CODE, CODE.upper(), f"  {CODE}\n", "01234567-89abcdef-01234567-89abcdef"]
)
def test_a_code_as_the_operator_printed_it_or_pasted_loosely_is_the_same_code(typed):
    assert invite_problem(typed) is None
    assert normalise_invite(typed) == CODE
    assert checked_invite(typed) == CODE


def test_no_code_is_no_invite():
    assert invite_problem("") is None
    assert invite_problem("   ") is None
    assert checked_invite(" ") is None


@pytest.mark.parametrize("typed", [CODE[:-1], CODE + "0", "g" * 32, "my invite", CODE + "\x00"])
def test_anything_else_is_refused_with_what_an_invite_looks_like(typed):
    problem = invite_problem(typed)
    assert problem is not None and "32 characters" in problem
    with pytest.raises(RefusedInput, match="32 characters"):
        checked_invite(typed)


def test_config_keeps_a_code_normalised_and_refuses_a_malformed_one(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"backup_invite": CODE.upper()}))
    assert load_config(tmp_path).backup_invite == CODE
    (tmp_path / "config.json").write_text(json.dumps({"backup_invite": "nope"}))
    with pytest.raises(ConfigError, match="backup_invite is refused: An invite code is 32"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"backup_invite": 7}))
    with pytest.raises(ConfigError, match="backup_invite must be a string"):
        load_config(tmp_path)
