"""Marking, encoding, signing and verification: what makes a provgate file traceable."""
