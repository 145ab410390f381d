"""A validated sweep -> runs, shape groups and batches, with their cost: pure Python, no JAX.

Owns `Run` (a grid point x a seed, with its static spec and traced values), the plan of a sweep
(its shape groups and the batches cut from them), the cost model, the time estimate calibrated
on this machine, and the limits a sweep must keep.

May import: `phasegrok.errors`, `phasegrok.tasks`, `phasegrok.config`.
"""
