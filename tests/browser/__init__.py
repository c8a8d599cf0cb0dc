"""Browser tests of the widgets (a package, so its conftest does not shadow tests/conftest.py)."""
