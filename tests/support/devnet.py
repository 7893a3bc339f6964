"""Test support: devnet (fixtures shared by every suite)."""
