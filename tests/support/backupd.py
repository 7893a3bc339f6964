"""Test support: backupd (fixtures shared by every suite)."""
