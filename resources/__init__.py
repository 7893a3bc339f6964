"""Icons, style sheets, the desktop entry and AppStream metainfo, shipped inside the package."""
