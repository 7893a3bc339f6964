"""The headless commands `cairn.cli` dispatches to: `backup` (backup, sync, restore) and
`wallet` (labels, preferences, addresses)."""
