"""The Qt user interface: every PySide6 import lives under this package."""
