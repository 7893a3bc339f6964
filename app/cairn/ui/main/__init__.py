"""The main window: balance, receive, send, history, backup status and settings."""
