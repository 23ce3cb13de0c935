"""Demo data: a small generated county for `fieldcheck demo` and test fixtures."""
