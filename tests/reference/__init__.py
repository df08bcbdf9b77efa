"""Independent references used by the tests (written from the papers' code, not from ganzoo)."""
