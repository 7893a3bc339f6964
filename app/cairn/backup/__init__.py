"""Envelope cipher, wire protocol, backup client, engine and restore."""
