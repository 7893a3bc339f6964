"""The names of the wizard's views, flows and loading tasks."""

from __future__ import annotations

from enum import Enum


class View(Enum):
    """One screen of the onboarding wizard."""

    WELCOME = "welcome"
    SHOW_WORDS = "show_words"
    CONFIRM_WORDS = "confirm_words"
    DISCLAIMER = "disclaimer"
    RESTORE_WORDS = "restore_words"
    EMAIL = "email"
    BACKUP_SERVER = "backup_server"
    LOADING = "loading"
    MAIN = "main"


class Flow(Enum):
    """Why the wizard runs: a new wallet, a restore, or an upgrade of an existing one."""

    CREATE = "create"
    RESTORE = "restore"
    UPGRADE = "upgrade"


class LoadingTask(Enum):
    """What the loading screen does before the main window opens."""

    INITIAL_BACKUP = "initial_backup"
    RESTORE = "restore"
    UPGRADE_FULL_BACKUP = "upgrade_full_backup"


LOADING_TASK_OF_FLOW: dict[Flow, LoadingTask] = {
    Flow.CREATE: LoadingTask.INITIAL_BACKUP,
    Flow.RESTORE: LoadingTask.RESTORE,
    Flow.UPGRADE: LoadingTask.UPGRADE_FULL_BACKUP,
}
