"""The Qt application: the wizard when there is no wallet (or one owes a full backup), then the
main window. Runs on a qasync loop so every network and storage call is a coroutine.

An existing wallet starts with the main window at once, saying it is loading; the wallet is
opened after that window's first frame and the window fills in when it is open.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from cairn import logredact
from cairn.config import load_config, save_config
from cairn.exitcodes import EXIT_BUG
from cairn.keys import Network
from cairn.localfaults import local_fault
from cairn.onboarding import View, start_state
from cairn.session import Session, SessionError
from cairn.ui.first_frame import first_frame
from cairn.ui.loop import new_event_loop
from cairn.ui.main.window import MainWindow
from cairn.ui.resources import icon_path
from cairn.ui.shortcuts import add_quit_shortcut

if TYPE_CHECKING:
    from cairn.onboarding import Wizard
    from cairn.ui.handoff import LinkReceiver
    from cairn.ui.wizard.window import WizardWindow

log = logging.getLogger(__name__)


class CairnApp(QObject):
    """Owns the session and whichever window is showing; `finished` carries the exit code."""

    finished = Signal(int)
    # The main window's first frame is on screen (on start, before its wallet is open).
    main_shown = Signal()
    # The first window (the wizard, or the main window's first frame) is on screen.
    window_shown = Signal()

    def __init__(
        self, data_dir: Path, *, quit_when_ready: bool = False, payment_link: str | None = None
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.quit_when_ready = quit_when_ready
        # A `bitcoin:` link to open in Send once the main window is up.
        self.pending_link = payment_link
        self.session: Session | None = None
        self.wizard: Wizard | None = None
        self.wizard_window: WizardWindow | None = None
        self.main_window: MainWindow | None = None
        self._task: asyncio.Task[None] | None = None
        # Opening the wallet behind the main window: shutdown lets it finish before it closes
        # the session, so nothing is left half-open in a worker thread.
        self._opening: asyncio.Future[None] | None = None
        self._switching = False

    def start(self) -> None:
        self._task = asyncio.get_event_loop().create_task(self._open())

    @property
    def window(self) -> QWidget | None:
        return self.main_window or self.wizard_window

    async def _open(self) -> None:
        try:
            self.session = await Session.open(self.data_dir)
            presence = await self.session.presence()
            state = start_state(
                presence, self.session.backup_server_url, self.session.config.network
            )
            if state.view is View.MAIN:
                await self._show_main()
            else:
                from cairn.onboarding import Wizard  # the wizard's table, only for the wizard

                self._show_wizard(Wizard(state))
        except Exception as exc:
            message, code = self._start_failure(exc)
            if self.main_window is not None:
                self.main_window.show_load_failure(message)
            self._fatal(message, code)

    @staticmethod
    def _start_failure(exc: Exception) -> tuple[str, int]:
        """What the user is told when the start failed, and the exit code."""
        fault = local_fault(exc)
        if fault is not None:
            return fault.message, fault.code
        if isinstance(exc, SessionError):
            return str(exc), EXIT_BUG
        log.error("Cairn could not start", exc_info=exc)
        return f"Cairn could not start: an unexpected error ({type(exc).__name__}).", EXIT_BUG

    def _show_wizard(self, wizard: Wizard) -> None:
        assert self.session is not None
        # The wizard's pages and the engines they drive (restore, first backup) are imported
        # only when it is shown: an existing wallet's start never needs them.
        from cairn.ui.wizard.window import WizardWindow

        self.wizard = wizard
        self.wizard_window = WizardWindow(wizard, self.session)
        self.wizard_window.finished.connect(self._wizard_finished)
        self.wizard_window.show()
        self.window_shown.emit()
        self._ready()

    def _wizard_finished(self) -> None:
        self._task = asyncio.get_event_loop().create_task(self._after_wizard())

    async def _after_wizard(self) -> None:
        try:
            await self._show_main()
        except Exception as exc:
            log.error("the main window could not open", exc_info=exc)
            self._fatal(f"The wallet could not be opened ({type(exc).__name__}).")
            return
        if self.wizard_window is not None:
            self.wizard_window.hide()
            self.wizard_window.deleteLater()
            self.wizard_window = None

    async def _show_main(self) -> None:
        """Show the main window, then (on start) open the wallet behind it."""
        session = self.session
        assert session is not None
        if session.wallet_is_open:  # after the wizard: only the uploads are left to start
            await session.start()
        window = MainWindow(session)  # without the open wallet: its frame, "Loading wallet…"
        add_quit_shortcut(window)
        window.setWindowIcon(QIcon(str(icon_path(256))))
        window.network_change_requested.connect(self._switch_network)
        self.main_window = window
        window.show()
        await first_frame(window)
        self.main_shown.emit()
        self.window_shown.emit()
        if not window.loaded:
            self._opening = asyncio.ensure_future(session.start())
            await asyncio.shield(self._opening)
            window.attach_wallet()
        if self.pending_link:
            link, self.pending_link = self.pending_link, None
            window.open_payment_link(link)
        self._ready()

    def open_payment_link(self, link: str) -> None:
        """Open ``link`` in Send now, or once the wallet is open (the wizard may be showing)."""
        if self.main_window is not None and self.main_window.loaded:
            self.main_window.open_payment_link(link)
        else:
            self.pending_link = link

    def _switch_network(self, network: str) -> None:
        async def switch() -> None:
            config = await asyncio.to_thread(load_config, self.data_dir)
            await asyncio.to_thread(
                save_config, self.data_dir, config.with_changes(network=Network(network))
            )
            # Closing the main window runs its own clean-up; the app must not take it for
            # the user quitting.
            self._switching = True
            try:
                if self.main_window is not None:
                    self.main_window.close()
                    self.main_window.deleteLater()
                    self.main_window = None
                if self.session is not None:
                    await self.session.close()
                await self._open()
            finally:
                self._switching = False

        self._task = asyncio.get_event_loop().create_task(switch())

    def last_window_closed(self) -> None:
        """The user closed the last window: quit, unless a network switch is replacing it."""
        if not self._switching:
            self.finished.emit(0)

    def _ready(self) -> None:
        """The window is up and usable: the wizard, or the main window with its wallet open."""
        log.info("ready: the %s is showing", "main window" if self.main_window else "wizard")
        if self.quit_when_ready:
            log.info("ready; quitting as asked (--quit-when-ready)")
            QTimer.singleShot(0, lambda: self.finished.emit(0))

    def _fatal(self, message: str, code: int = EXIT_BUG) -> None:
        log.info("fatal: %s", message)  # the user is told once, on stderr or in a box
        print(f"cairn: {message}", file=sys.stderr)
        if self.quit_when_ready:
            self.finished.emit(code)
            return
        box = QMessageBox(QMessageBox.Icon.Critical, "Cairn", message)
        box.finished.connect(lambda _: self.finished.emit(code))
        box.open()
        self._fatal_box = box

    async def shutdown(self) -> None:
        """Quit in order, so nothing runs on what is already closed: the windows stop their
        timers and tasks (and wait for them), then the session stops the backup engine, lets
        the wallet save and closes the store."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._opening is not None:
            await asyncio.gather(self._opening, return_exceptions=True)
        for window in (self.main_window, self.wizard_window):
            if window is not None:
                window.close()
        if self.main_window is not None:
            await self.main_window.tasks.aclose()
        if self.session is not None:
            await self.session.close()


def stop_on_signals(loop: asyncio.AbstractEventLoop, finish: Callable[[int], None]) -> None:
    """Ctrl+C, SIGTERM and SIGHUP (the terminal closed) close the app as its window's close
    button does (exit 128 + signal).

    Qt's loop runs no Python code while idle, so a plain Python handler would wait for the next
    event; the loop's own signal handling wakes it at once.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if signum is None:
            continue
        try:
            loop.add_signal_handler(signum, finish, 128 + signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not Unix, or not main thread
            log.debug("no handler for signal %d on this loop", signum)


def run(data_dir: Path, *, quit_when_ready: bool = False, payment_link: str | None = None) -> int:
    """Start the app on a qasync loop and return its exit code.

    With ``payment_link`` and the app already running on ``data_dir``, the link is handed to it
    and this launch ends at once (exit 0).
    """
    logredact.install()  # store URLs in the HTTP client's log lines carry the node id
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Cairn")
    app.setOrganizationName("Cairn")
    app.setDesktopFileName("org.cairnwallet.Cairn")
    app.setWindowIcon(QIcon(str(icon_path(256))))
    # Closing the last window ends `main()` below, which closes the session before the loop
    # stops; Qt quitting on its own would stop the loop in the middle of that.
    app.setQuitOnLastWindowClosed(False)
    if payment_link:
        from cairn.ui.handoff import hand_over

        if hand_over(data_dir, payment_link):
            log.info("the payment link went to the Cairn already running")
            return 0
    loop = new_event_loop(app)
    asyncio.set_event_loop(loop)
    cairn = CairnApp(data_dir, quit_when_ready=quit_when_ready, payment_link=payment_link)
    links: LinkReceiver | None = None

    def receive_links() -> None:
        # Listening for later launches' links starts once a window is up: Qt's network module
        # is not needed for the first frame (tens of ms). A link sent before then opens a
        # window of its own, as one sent while this launch was still loading always has.
        nonlocal links
        if links is None:
            from cairn.ui.handoff import LinkReceiver

            links = LinkReceiver(data_dir)
            links.received.connect(cairn.open_payment_link)

    cairn.window_shown.connect(receive_links)
    exit_code = 0
    done = asyncio.Event()

    def finish(code: int) -> None:
        nonlocal exit_code
        if not done.is_set():  # the first reason to stop decides the exit code
            exit_code = code
            done.set()

    cairn.finished.connect(finish)
    app.lastWindowClosed.connect(cairn.last_window_closed)
    stop_on_signals(loop, finish)
    # Modules, Qt wrappers and everything else made at start-up live as long as the app: keep
    # them out of the garbage collector's full passes, which otherwise walk all of them and
    # pause every thread (hundreds of ms measured while restoring 20,000 records).
    gc.freeze()
    gc.enable()  # the command turned it off for the imports (cairn.cli)

    async def main() -> None:
        cairn.start()
        await done.wait()
        await cairn.shutdown()
        await _finish_leftover_tasks()

    with loop:
        loop.run_until_complete(main())
    if links is not None:
        links.close()
    return exit_code


async def _finish_leftover_tasks() -> None:
    """Cancel and wait for whatever still runs (as asyncio.run does), before the loop closes:
    a task destroyed while pending is an error in the log."""
    current = asyncio.current_task()
    leftovers = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.gather(*leftovers, return_exceptions=True)
