"""Screenshots of every wizard page and the main window, from the real app.

Run under a virtual display:  xvfb-run -a .venv/bin/python scripts/screenshots.py [--out DIR]

It starts a local devnet and backup server, makes a wallet with a little history and backs it
up, then walks the create path, the restore path (through the loading screen to the main
window) and a restore against an unreachable server. Every picture goes to --out (default
build/screenshots); the three the README shows (welcome, restore, main window) also go to
docs/screenshots/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

import httpx
from PySide6.QtWidgets import QApplication, QWidget

from cairn.config import AppConfig, save_config
from cairn.demo import DemoServices
from cairn.keys import Network
from cairn.onboarding import Flow, View
from cairn.session import Session
from cairn.ui.app import CairnApp
from cairn.ui.loop import new_event_loop

ROOT = Path(__file__).resolve().parent.parent
README_SHOTS = ("welcome", "restore", "main")
WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"
EXTRA_LABELS = 6000  # enough records for the restore's progress bar to be caught mid-way


async def settle(seconds: float = 0.4) -> None:
    await asyncio.sleep(seconds)
    QApplication.processEvents()


async def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await asyncio.sleep(0.02)


class Shooter:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.taken: list[Path] = []

    async def __call__(self, widget: QWidget, name: str) -> None:
        await settle()
        path = self.out / f"{name}.png"
        widget.grab().save(str(path))
        self.taken.append(path)
        print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def data_dir(base: Path, name: str, services: DemoServices, *, server: str | None) -> Path:
    path = base / name
    path.mkdir(parents=True)
    save_config(
        path,
        AppConfig(
            network=Network.REGTEST,
            backup_server_url=server,
            esplora_url=services.devnet_url,
            devnet_url=services.devnet_url,
        ),
    )
    return path


async def wallet_with_history(path: Path, services: DemoServices) -> None:
    """Three payments received, labels, an email; backed up."""
    session = await Session.open(path)
    try:
        await session.create_wallet(WORDS.split(), email="alice@example.com")
        await session.run_initial_backup()
        notes = ["Salary, October", "Sold the old bicycle", "Refund from Ana"]
        for n, (amount, note) in enumerate(zip((2_500_000, 640_000, 85_000), notes, strict=True)):
            address = (await session.wallet.next_receive_address()).address
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{services.devnet_url}/devnet/faucet",
                    json={"address": address, "amount_sat": amount, "mine": n < 2},
                )
            txid = response.json()["txid"]
            await session.wallet.sync()
            await session.wallet.set_label("tx", txid, note)
        store = session._store
        assert store is not None
        labels = {
            f"labels/tx/{i:064x}": json.dumps(
                {"type": "tx", "ref": f"{i:064x}", "label": f"archived note {i}"}
            ).encode()
            for i in range(EXTRA_LABELS)
        }
        await asyncio.to_thread(store.batch, labels)
        await session.back_up_now()
    finally:
        await session.close()


async def create_path(base: Path, services: DemoServices, shoot: Shooter) -> None:
    app = CairnApp(data_dir(base, "create", services, server=None))
    app.start()
    await wait_for(lambda: app.wizard_window is not None)
    window, wizard = app.wizard_window, app.wizard
    assert window is not None and wizard is not None
    await shoot(window, "welcome")
    window.current_page.create_button.click()  # type: ignore[attr-defined]
    await shoot(window, "create-1-words")
    window.next_button.click()
    page = window.current_page
    words = wizard.state.words
    first = wizard.state.confirm_positions[0]
    page.fields[0].setText(words[first])  # type: ignore[attr-defined]
    page.fields[0].textEdited.emit(words[first])  # type: ignore[attr-defined]
    await shoot(window, "create-2-confirm")
    wizard.update(confirm_answers=tuple(words[p] for p in wizard.state.confirm_positions))
    wizard.next()
    await shoot(window, "create-3-disclaimer")
    window.current_page.checkbox.setChecked(True)  # type: ignore[attr-defined]
    window.next_button.click()
    page = window.current_page
    page.field.setText("alice@example.com")  # type: ignore[attr-defined]
    page.field.textEdited.emit("alice@example.com")  # type: ignore[attr-defined]
    await shoot(window, "create-4-email")
    window.next_button.click()
    assert wizard.view is View.BACKUP_SERVER
    page = window.current_page
    page.field.setText(services.backupd_url)  # type: ignore[attr-defined]
    page.field.textEdited.emit(services.backupd_url)  # type: ignore[attr-defined]
    await shoot(window, "create-5-server")
    await app.shutdown()


async def restore_path(base: Path, services: DemoServices, shoot: Shooter) -> None:
    app = CairnApp(data_dir(base, "restore", services, server=services.backupd_url))
    app.start()
    await wait_for(lambda: app.wizard_window is not None)
    window, wizard = app.wizard_window, app.wizard
    assert window is not None and wizard is not None
    wizard.update(flow=Flow.RESTORE)
    wizard.next()
    page = window.current_page
    page._spread(0, WORDS.split())  # type: ignore[attr-defined]
    window.next_button.setFocus()
    await shoot(window, "restore")
    window.next_button.click()
    loading = window.pages[View.LOADING]
    await wait_for(
        lambda: loading.bar.maximum() > 0 and loading.bar.value() > loading.bar.maximum() // 4
    )  # type: ignore[attr-defined]
    await shoot(window, "restore-2-loading")
    await wait_for(lambda: app.main_window is not None and app.main_window.loaded)
    main = app.main_window
    assert main is not None
    await wait_for(lambda: not main.syncing, timeout=30)
    await settle(1.5)
    await shoot(main, "main")
    main.tabs.setCurrentWidget(main.receive)
    await shoot(main, "main-receive")
    main.tabs.setCurrentWidget(main.send)
    await shoot(main, "main-send")
    main.tabs.setCurrentWidget(main.settings)
    await shoot(main, "main-settings")
    await app.shutdown()


async def unreachable(base: Path, services: DemoServices, shoot: Shooter) -> None:
    # Port 9 (discard) refuses connections on loopback: an unreachable backup server.
    app = CairnApp(data_dir(base, "offline", services, server="http://127.0.0.1:9"))
    app.start()
    await wait_for(lambda: app.wizard_window is not None)
    window, wizard = app.wizard_window, app.wizard
    assert window is not None and wizard is not None
    wizard.update(flow=Flow.RESTORE)
    wizard.next()
    wizard.update(words=tuple(WORDS.split()))
    wizard.next()
    loading = window.pages[View.LOADING]
    await wait_for(loading.problem.isVisible)  # type: ignore[attr-defined]
    await shoot(window, "restore-3-unreachable")
    await app.shutdown()


async def main(out: Path, readme: bool) -> None:
    shoot = Shooter(out)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with DemoServices(base / "services") as services:
            await wallet_with_history(
                data_dir(base, "old", services, server=services.backupd_url), services
            )
            await create_path(base, services, shoot)
            await restore_path(base, services, shoot)
            await unreachable(base, services, shoot)
    if readme:
        docs = ROOT / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        for name in README_SHOTS:
            shutil.copyfile(out / f"{name}.png", docs / f"{name}.png")
        print(f"README pictures copied to {docs.relative_to(ROOT)}")


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots")
    parser.add_argument("--no-readme", action="store_true", help="do not update docs/screenshots/")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = new_event_loop(app)
    asyncio.set_event_loop(loop)
    with loop:
        loop.run_until_complete(main(args.out, not args.no_readme))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
