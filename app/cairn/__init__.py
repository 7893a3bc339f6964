"""Cairn: a desktop Bitcoin wallet that never loses what you had."""

__version__ = "0.1.0"
