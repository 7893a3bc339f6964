"""Test support: postgres (fixtures shared by every suite)."""
