"""Developer tooling that stays out of the installed package (the docs' mkdocs hook)."""
