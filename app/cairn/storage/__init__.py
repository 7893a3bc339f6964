"""The embedded record store: names to bytes, with an outbox of changes to back up."""
