"""Cameos and consent (enrollment, policies, grants, face matching, teen rules).

Not built yet: until it is, admission refuses every requested cameo with
``cameo_not_granted`` (fail closed), so no real person can be generated without consent.
"""
