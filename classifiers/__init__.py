"""Prompt and output classifiers, and the policy that turns their scores into a decision."""
