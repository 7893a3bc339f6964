"""Recipient addresses: invalid text and addresses of another network are told apart."""

from __future__ import annotations

import bdkpython as bdk
import pytest

from cairn.keys import Network
from cairn.wallet.addresses import dust_limit, parse_address
from cairn.wallet.errors import InvalidAddress, WrongNetworkAddress

from .offline import FIRST_REGTEST_ADDRESS

MAINNET = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # BIP84 test vector, index 0
TESTNET = "tb1q6rz28mcfaxtmd6v789l9rrlrusdprr9pqcpvkl"


def test_a_valid_address_of_the_wallet_network_parses():
    assert (
        str(parse_address(f"  {FIRST_REGTEST_ADDRESS} ", Network.REGTEST)) == FIRST_REGTEST_ADDRESS
    )


def test_a_bip21_uri_gives_its_address():
    uri = f"bitcoin:{FIRST_REGTEST_ADDRESS}?amount=0.1&label=x"
    assert str(parse_address(uri, Network.REGTEST)) == FIRST_REGTEST_ADDRESS


def test_a_mainnet_address_in_a_regtest_wallet_is_a_wrong_network():
    with pytest.raises(WrongNetworkAddress) as caught:
        parse_address(MAINNET, Network.REGTEST)
    assert caught.value.address_network == "mainnet (bitcoin)"
    assert caught.value.wallet_network == "regtest"
    assert "ask the recipient for a regtest address" in str(caught.value)


def test_a_test_address_in_a_mainnet_wallet_is_a_wrong_network():
    with pytest.raises(WrongNetworkAddress, match="test network"):
        parse_address(TESTNET, Network.BITCOIN)


@pytest.mark.parametrize(
    "text", ["", "   ", "hello", FIRST_REGTEST_ADDRESS[:-1] + "q", "bitcoin:", "1" * 40]
)
def test_garbage_is_an_invalid_address(text: str):
    with pytest.raises(InvalidAddress, match="not a valid Bitcoin address"):
        parse_address(text, Network.REGTEST)


def test_dust_limits_follow_the_output_type():
    assert dust_limit(bdk.Address(FIRST_REGTEST_ADDRESS, bdk.Network.REGTEST)) == 294
    p2pkh = bdk.Address("mkHS9ne12qx9pS9VojpwU5xtRd4T7X7ZUt", bdk.Network.REGTEST)
    assert dust_limit(p2pkh) == 546
