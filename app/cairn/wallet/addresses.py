"""Recipient addresses: parse, check the network, and say clearly what is wrong."""

from __future__ import annotations

import bdkpython as bdk

from cairn.keys import Network
from cairn.wallet.errors import InvalidAddress, WrongNetworkAddress

BDK_NETWORKS: dict[Network, bdk.Network] = {
    Network.BITCOIN: bdk.Network.BITCOIN,
    Network.TESTNET: bdk.Network.TESTNET,
    Network.SIGNET: bdk.Network.SIGNET,
    Network.REGTEST: bdk.Network.REGTEST,
}

# Dust limits of Bitcoin Core's relay policy (3 sat/vB dust relay fee) per output type.
_DUST_LIMITS = {"p2pkh": 546, "p2sh": 540, "p2wpkh": 294, "p2wsh": 330, "p2tr": 330}
DEFAULT_DUST_LIMIT = 546


def network_kind(network: Network) -> bdk.NetworkKind:
    return bdk.NetworkKind.MAIN if network.is_mainnet else bdk.NetworkKind.TEST


def parse_address(text: str, network: Network) -> bdk.Address:
    """The address in ``text`` for ``network``; InvalidAddress or WrongNetworkAddress if not."""
    candidate = text.strip()
    if candidate.lower().startswith("bitcoin:"):
        # A BIP21 URI pasted whole: the address is what comes before any "?".
        candidate = candidate[len("bitcoin:") :].split("?", 1)[0]
    if not candidate:
        raise InvalidAddress(text)
    address = _parse_for(candidate, network)
    if address is not None:
        return address
    for other in Network:
        if other is not network and _parse_for(candidate, other) is not None:
            raise WrongNetworkAddress(candidate, _network_name(other, network), network.value)
    raise InvalidAddress(candidate)


def _parse_for(candidate: str, network: Network) -> bdk.Address | None:
    try:
        return bdk.Address(candidate, BDK_NETWORKS[network])
    except bdk.AddressParseError:
        return None


def _network_name(found: Network, wallet: Network) -> str:
    # tb1/m/n/2 addresses parse on testnet and signet alike: name the family, not a guess.
    if found.is_mainnet:
        return "mainnet (bitcoin)"
    if wallet.is_mainnet:
        return "test network"
    return found.value


def dust_limit(address: bdk.Address) -> int:
    """The smallest amount an output to ``address`` may carry."""
    script = address.script_pubkey().to_bytes()
    if len(script) == 22 and script[:2] == b"\x00\x14":
        return _DUST_LIMITS["p2wpkh"]
    if len(script) == 34 and script[:2] == b"\x00\x20":
        return _DUST_LIMITS["p2wsh"]
    if len(script) == 34 and script[:2] == b"\x51\x20":
        return _DUST_LIMITS["p2tr"]
    if len(script) == 23 and script[0] == 0xA9:
        return _DUST_LIMITS["p2sh"]
    return DEFAULT_DUST_LIMIT
