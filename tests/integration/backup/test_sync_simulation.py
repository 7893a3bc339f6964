"""Randomized, seeded simulations of two and three devices on one seed (see tests/support/syncsim.py).

`CAIRN_SIM_STEPS` sets the least steps of each simulation (default 250) and `CAIRN_SIM_SECONDS`
its least duration (default 60; longer for a release check), `CAIRN_SIM_SEED`
the first seed. A failure prints the seed: the steps it chooses are the same on every run (how
they interleave with the server's answers is not).
"""

from __future__ import annotations

import os

import pytest

from tests.integration.backup.helpers import keys_for, restored_records
from tests.support.syncsim import Simulation

STEPS = int(os.environ.get("CAIRN_SIM_STEPS", "250"))
# Two simulations per backend of at least a minute each: two minutes per backend in every run.
SECONDS = float(os.environ.get("CAIRN_SIM_SECONDS", "60"))
SEED = int(os.environ.get("CAIRN_SIM_SEED", "1105"))


@pytest.mark.slow
@pytest.mark.asyncio
@pytest.mark.timeout(SECONDS * 3 + STEPS * 2 + 120)
@pytest.mark.parametrize("devices", [2, 3])
@pytest.mark.parametrize(
    "postgres", [pytest.param(False, id="sqlite"), pytest.param(True, id="postgres")]
)
async def test_devices_converge_and_lose_nothing(backupd_factory, tmp_path, devices, postgres):
    server = backupd_factory(postgres=postgres)
    seed = SEED + devices + (100 if postgres else 0)
    simulation = Simulation(seed, devices, server.url, keys_for(), tmp_path, server.db)
    try:
        await simulation.run(STEPS, SECONDS)
        await simulation.close()
        restored = await restored_records(server.url, tmp_path)
        for device in simulation.devices:
            await device.open()
        problems = await simulation.check(restored)
    finally:
        await simulation.close()
    if problems:
        (tmp_path / "history.txt").write_text(simulation.history_of(problems))
    assert not problems, (
        f"seed {seed}, {simulation.steps} steps: {problems[:10]} (history in {tmp_path})"
    )
    assert simulation.steps >= STEPS
