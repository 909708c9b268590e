"""The compliance gate: the transfer's settings checked against PIPL before any personal data moves.

`model` holds the vocabulary (legal routes, cross-border mechanisms, the gate's settings), `rules` the pure
checks (impact assessment, purposes, legal route, cross-border destinations; REQUIREMENTS R05, R31, R32), `gate`
gathers what the rules need (the mapping's consent purposes, the re-consent file) and writes the run's record.
"""
