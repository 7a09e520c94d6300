"""The test suite; a package so every folder imports shared helpers from ``tests.support``."""
