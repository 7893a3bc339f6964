"""The devnet's Esplora API over real HTTP, as BDK and the Esplora docs expect it."""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections.abc import Callable, Iterator

import bdkpython as bdk
import pytest

from cairn.devnet.txcodec import Tx, TxIn, TxOut, parse_tx, sha256d
from tests.support.devnet import DevnetProcess

ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # BIP173's regtest P2WPKH example
SCRIPT = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
OTHER = bytes.fromhex("0014" + "55" * 20)
# P2WSH(OP_TRUE): hand-built spends of it need no signature, only the script as witness.
ANYONE = "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85"
WITNESS = (b"\x51",)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetProcess]:
    """One devnet for the read-mostly tests of this module (each test reads relative state)."""
    devnet = DevnetProcess(tmp_path_factory.mktemp("devnet-api"))
    devnet.start()
    yield devnet
    devnet.close()


def spend(outpoints: list[tuple[str, int]], outputs: list[tuple[int, bytes]]) -> Tx:
    inputs = tuple(TxIn(t, v, b"", 0xFFFFFFFD, WITNESS) for t, v in outpoints)
    return Tx(2, inputs, tuple(TxOut(v, s) for v, s in outputs), 0)


def broadcast(node: DevnetProcess, tx: Tx | str) -> tuple[int, str]:
    body = tx if isinstance(tx, str) else tx.serialize().hex()
    response = node.post("/tx", content=body)
    return response.status_code, response.text


def test_blocks_form_a_consistent_chain(node: DevnetProcess) -> None:
    node.mine(12)
    tip = int(node.get("/blocks/tip/height").text)
    listed = node.get("/blocks").json()

    assert [b["height"] for b in listed] == list(range(tip, tip - 10, -1))
    assert listed[0]["id"] == node.get("/blocks/tip/hash").text
    for newer, older in itertools.pairwise(listed):
        assert newer["previousblockhash"] == older["id"]
        assert newer["timestamp"] > older["timestamp"]
    for block in listed:
        assert node.get(f"/block-height/{block['height']}").text == block["id"]
        header = bytes.fromhex(node.get(f"/block/{block['id']}/header").text)
        assert sha256d(header)[::-1].hex() == block["id"]
        assert header[4:36][::-1].hex() == block["previousblockhash"]
        assert header[36:68][::-1].hex() == block["merkle_root"]
    assert node.get(f"/blocks/{tip - 10}").json()[0]["height"] == tip - 10
    genesis = node.get("/blocks/0").json()
    assert genesis[0]["id"] == node.get("/block-height/0").text
    assert genesis[0]["previousblockhash"] is None


def test_block_status_points_to_the_next_block(node: DevnetProcess) -> None:
    node.mine(1)
    tip = int(node.get("/blocks/tip/height").text)
    below, top = node.get(f"/block-height/{tip - 1}").text, node.get(f"/block-height/{tip}").text
    assert node.get(f"/block/{below}/status").json() == {
        "in_best_chain": True,
        "height": tip - 1,
        "next_best": top,
    }
    assert node.get(f"/block/{top}/status").json()["next_best"] is None


def test_a_payment_moves_from_mempool_to_a_block(node: DevnetProcess) -> None:
    txid = node.faucet(ADDRESS, 70_000)
    pending = node.get(f"/tx/{txid}").json()
    assert pending["status"] == {"confirmed": False}
    assert txid in node.get("/mempool/txids").json()
    assert pending["vout"][0] == {
        "scriptpubkey": SCRIPT.hex(),
        "scriptpubkey_type": "v0_p2wpkh",
        "scriptpubkey_address": ADDRESS,
        "value": 70_000,
    }
    assert pending["vin"][0]["is_coinbase"] is False
    assert (
        pending["vin"][0]["prevout"]["value"]
        == sum(o["value"] for o in pending["vout"]) + pending["fee"]
    )
    assert pending["weight"] > pending["size"] > 0

    (block_hash,) = node.mine()
    tip = int(node.get("/blocks/tip/height").text)
    block = node.get(f"/block/{block_hash}").json()
    status = node.get(f"/tx/{txid}/status").json()

    assert status == {
        "confirmed": True,
        "block_height": tip,
        "block_hash": block_hash,
        "block_time": block["timestamp"],
    }
    assert node.get(f"/tx/{txid}").json()["status"] == status
    assert node.get(f"/block/{block_hash}/txids").json()[1] == txid
    assert node.get(f"/block/{block_hash}/txid/1").text == txid
    assert node.get(f"/block/{block_hash}/txs").json()[1]["txid"] == txid
    assert txid not in node.get("/mempool/txids").json()
    node.mine(2)
    confirmations = int(node.get("/blocks/tip/height").text) - status["block_height"] + 1
    assert confirmations == 3


def test_raw_forms_match_the_json(node: DevnetProcess) -> None:
    txid = node.faucet(ADDRESS, 1_000, mine=True)
    raw = node.get(f"/tx/{txid}/raw").content
    assert node.get(f"/tx/{txid}/hex").text == raw.hex()
    assert parse_tx(raw).txid == txid
    block_hash = node.get(f"/tx/{txid}/status").json()["block_hash"]
    block_raw = node.get(f"/block/{block_hash}/raw").content
    assert sha256d(block_raw[:80])[::-1].hex() == block_hash


def test_merkle_proof_leads_to_the_blocks_merkle_root(node: DevnetProcess) -> None:
    txids = [node.faucet(ADDRESS, 1_000 + i) for i in range(3)]
    node.mine()
    proof = node.get(f"/tx/{txids[1]}/merkle-proof").json()
    block_hash = node.get(f"/block-height/{proof['block_height']}").text
    root = node.get(f"/block/{block_hash}").json()["merkle_root"]

    current, position = bytes.fromhex(txids[1])[::-1], proof["pos"]
    for sibling_hex in proof["merkle"]:
        sibling = bytes.fromhex(sibling_hex)[::-1]
        current = sha256d(sibling + current) if position & 1 else sha256d(current + sibling)
        position >>= 1
    assert current[::-1].hex() == root


def test_outspends_follow_spending(node: DevnetProcess) -> None:
    funding = node.faucet(ANYONE, 20_000)
    assert node.get(f"/tx/{funding}/outspend/0").json() == {"spent": False}

    code, spender = broadcast(node, spend([(funding, 0)], [(19_000, OTHER)]))
    assert code == 200

    assert node.get(f"/tx/{funding}/outspend/0").json() == {
        "spent": True,
        "txid": spender,
        "vin": 0,
        "status": {"confirmed": False},
    }
    assert [o["spent"] for o in node.get(f"/tx/{funding}/outspends").json()] == [True, False]
    assert node.get(f"/tx/{funding}/outspend/5").status_code == 404


def test_address_and_scripthash_views_agree(node: DevnetProcess) -> None:
    txid = node.faucet(ADDRESS, 3_000)
    script_hash = hashlib.sha256(SCRIPT).hexdigest()  # natural byte order, as BDK sends it

    by_address = node.get(f"/address/{ADDRESS}/txs").json()
    by_hash = node.get(f"/scripthash/{script_hash}/txs").json()

    assert by_address == by_hash
    assert by_hash[0]["txid"] == txid  # newest first, mempool before chain
    utxos = node.get(f"/scripthash/{script_hash}/utxo").json()
    assert {"txid": txid, "vout": 0, "value": 3_000, "status": {"confirmed": False}} in utxos
    summary = node.get(f"/address/{ADDRESS}").json()
    assert summary["address"] == ADDRESS
    assert summary["mempool_stats"]["funded_txo_sum"] >= 3_000
    assert node.get(f"/scripthash/{script_hash}/txs/mempool").json()[0]["txid"] == txid
    assert all(t["status"]["confirmed"] for t in node.get(f"/address/{ADDRESS}/txs/chain").json())
    assert node.get("/address/not-an-address/txs").status_code == 400


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/tx/" + "ab" * 32, 404, "Transaction not found"),
        ("/tx/xyz", 400, "Invalid hex string"),
        ("/block/" + "ab" * 32, 404, "Block not found"),
        ("/block-height/999999", 404, "Block not found"),
        ("/scripthash/short/txs", 400, "Invalid hex string"),
    ],
)
def test_unknown_things_answer_esplora_errors(
    node: DevnetProcess, path: str, status: int, text: str
) -> None:
    response = node.get(path)
    assert (response.status_code, response.text) == (status, text)


def rpc_error(code: int, message: str) -> str:
    return f'sendrawtransaction RPC error: {{"code":{code},"message":"{message}"}}'


def test_broadcast_answers_the_txid(node: DevnetProcess) -> None:
    funding = node.faucet(ANYONE, 10_000)
    tx = spend([(funding, 0)], [(9_000, OTHER)])
    assert broadcast(node, tx) == (200, tx.txid)
    assert broadcast(node, tx) == (200, tx.txid)  # a rebroadcast is not an error


def test_broadcast_rejects_malformed_hex(node: DevnetProcess) -> None:
    assert broadcast(node, "nothex") == (400, rpc_error(-22, "TX decode failed"))
    assert broadcast(node, "0200000001") == (400, rpc_error(-22, "TX decode failed"))


def test_broadcast_rejects_an_unknown_input(node: DevnetProcess) -> None:
    tx = spend([("cd" * 32, 0)], [(1_000, OTHER)])
    assert broadcast(node, tx) == (400, rpc_error(-25, "bad-txns-inputs-missingorspent"))


def test_broadcast_rejects_double_spends_in_mempool_and_chain(node: DevnetProcess) -> None:
    funding = node.faucet(ANYONE, 10_000)
    first = spend([(funding, 0)], [(9_000, OTHER)])
    assert broadcast(node, first)[0] == 200
    cheaper = spend([(funding, 0)], [(9_500, OTHER)])
    code, text = broadcast(node, cheaper)
    assert code == 400
    assert f"insufficient fee, rejecting replacement {cheaper.txid}; new feerate" in text
    node.mine()
    assert broadcast(node, cheaper) == (400, rpc_error(-25, "bad-txns-inputs-missingorspent"))


def test_a_replacement_paying_more_takes_the_originals_place(node: DevnetProcess) -> None:
    funding = node.faucet(ANYONE, 10_000)
    first = spend([(funding, 0)], [(9_000, OTHER)])
    assert broadcast(node, first)[0] == 200
    bumped = spend([(funding, 0)], [(8_000, OTHER)])  # twice the fee, the same size
    assert broadcast(node, bumped) == (200, bumped.txid)
    assert node.get("/mempool/txids").json() == [funding, bumped.txid]
    assert node.get(f"/tx/{first.txid}").status_code == 404
    assert node.get(f"/tx/{funding}/outspend/0").json()["txid"] == bumped.txid
    node.stop()
    node.start()  # the replacement, not the original, is what the state file kept
    assert node.get("/mempool/txids").json() == [funding, bumped.txid]


def test_broadcast_rejects_a_p2wpkh_spend_without_a_valid_signature(node: DevnetProcess) -> None:
    funding = node.faucet(ADDRESS, 10_000)
    forged = Tx(
        2, (TxIn(funding, 0, b"", 0, (b"\x30" * 71, b"\x02" * 33)),), (TxOut(9_000, OTHER),), 0
    )
    code, text = broadcast(node, forged)
    assert code == 400
    assert "mandatory-script-verify-flag-failed" in text


def test_broadcast_rejects_creating_money(node: DevnetProcess) -> None:
    funding = node.faucet(ANYONE, 10_000)
    code, text = broadcast(node, spend([(funding, 0)], [(10_001, OTHER)]))
    assert code == 400
    assert "bad-txns-in-belowout" in text


def test_fee_estimates_cover_every_esplora_target(node: DevnetProcess) -> None:
    estimates = node.get("/fee-estimates").json()
    targets = sorted(int(k) for k in estimates)
    assert targets == [*range(1, 26), 144, 504, 1008]
    rates = [estimates[str(t)] for t in targets]
    assert all(isinstance(r, float) and r >= 1.0 for r in rates)
    assert rates == sorted(rates, reverse=True)  # waiting longer never costs more
    assert bdk.EsploraClient(node.url).get_fee_estimates()[1] == estimates["1"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/devnet/faucet", {"address": "nope", "amount_sat": 1}),
        ("/devnet/faucet", {"address": ADDRESS, "amount_sat": 0}),
        ("/devnet/faucet", {"address": ADDRESS}),
        ("/devnet/faucet", {"address": ADDRESS, "amount_sat": 10**18}),
        ("/devnet/mine", {"blocks": 0}),
        ("/devnet/mine", {"blocks": "2"}),
        ("/devnet/reorg", {"depth": 0}),
        ("/devnet/reorg", {"depth": 10**6}),
        ("/devnet/reorg", {"depth": 1, "blocks": -1}),
    ],
)
def test_controls_reject_bad_requests(
    node: DevnetProcess, path: str, body: dict[str, object]
) -> None:
    response = node.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_mining_to_an_address_pays_it_the_coinbase(node: DevnetProcess) -> None:
    (block_hash,) = node.mine(address=ADDRESS)
    coinbase = node.get(f"/block/{block_hash}/txs").json()[0]
    assert coinbase["vin"][0]["is_coinbase"] is True
    assert coinbase["vin"][0]["prevout"] is None
    assert coinbase["vout"][0]["scriptpubkey_address"] == ADDRESS


def test_fee_estimates_can_be_set_and_survive_a_restart(devnet: DevnetProcess) -> None:
    devnet.set_fee_estimates({1: 50.0, 6: 10.0, 144: 1.5})
    devnet.stop()
    devnet.start()
    estimates = devnet.get("/fee-estimates").json()
    assert (estimates["1"], estimates["5"], estimates["6"], estimates["144"]) == (
        50.0,
        50.0,
        10.0,
        1.5,
    )


def test_evicting_a_payment_removes_it_from_the_mempool(devnet: DevnetProcess) -> None:
    txid = devnet.faucet(ADDRESS, 5_000)
    assert devnet.evict(txid) == [txid]
    assert devnet.get(f"/tx/{txid}").status_code == 404
    assert devnet.post("/devnet/evict", json={"txid": txid}).status_code == 404


def test_the_block_timer_mines_on_its_own(devnet_factory: Callable[..., DevnetProcess]) -> None:
    node = devnet_factory(block_interval=0.2)
    start = node.tip_height()
    deadline = time.monotonic() + 5
    while node.tip_height() < start + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.tip_height() >= start + 2


def test_a_wallet_sync_uses_only_the_endpoints_documented(
    devnet_factory: Callable[..., DevnetProcess],
) -> None:
    from tests.integration.devnet.test_bdk_wallets import (
        full_scan,
        make_wallet,
        receive_address,
        sync,
    )

    node = devnet_factory(log_level="debug")
    before = len(node.log())  # past the fixture's readiness probes
    wallet = make_wallet()
    full_scan(wallet, node.url)
    node.faucet(receive_address(wallet), 5_000, mine=True)
    node.mine(12)  # the payment's block falls out of /blocks' latest ten
    sync(wallet, node.url)
    assert wallet.balance().confirmed.to_sat() == 5_000

    requested = {
        re.sub(r"/[0-9a-f]{64}|/\d+", "/{}", m.group(1))
        for m in re.finditer(r'"GET (\S+) HTTP', node.log()[before:])
    }
    assert requested == {"/blocks", "/block-height/{}", "/scripthash/{}/txs"}


def test_signature_checks_can_be_switched_off(
    devnet_factory: Callable[..., DevnetProcess],
) -> None:
    node = devnet_factory(verify_signatures=False)
    funding = node.faucet(ADDRESS, 10_000)
    unsigned = Tx(2, (TxIn(funding, 0),), (TxOut(9_000, OTHER),), 0)
    assert broadcast(node, unsigned) == (200, unsigned.txid)
