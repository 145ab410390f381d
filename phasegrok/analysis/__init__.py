"""Finished runs -> phases and answers: pure NumPy and pandas, no JAX.

Owns the phase classification, adaptive refinement (its choice of points, and its rounds:
which runs each round adds, replayed from the stored runs, training handed in by the caller),
the comparison with a published reference, and `Results` (a results folder read once,
classified, holding the sweep's own runs).

May import: `phasegrok.errors`, `phasegrok.tasks`, `phasegrok.config`, `phasegrok.plan`,
`phasegrok.store`.
"""
