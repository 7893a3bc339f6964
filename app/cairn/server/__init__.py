"""cairn-backupd: the backup server."""
