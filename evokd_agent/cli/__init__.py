"""The command line: `evokd run | bench | report | eval | teacher ...` (top layer)."""
