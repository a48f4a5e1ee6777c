"""Attacks on the trust boundary, each of which must be refused."""
