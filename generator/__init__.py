"""Generators: the protocol every video model backend implements, and the backends."""
