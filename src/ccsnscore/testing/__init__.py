"""Helpers for tests: small generated datasets in the CCSNscore layout."""
