"""The BDK wallet, persisted as records; chain sync, payments, labels and events."""
