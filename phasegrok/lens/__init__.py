"""The mechanistic lens: parameters -> lens values, in NumPy (or JAX, given as `xp`).

Owns the Fourier lens over the cyclic groups, the readout lens, the per-run figure data, and
Nanda et al.'s progress measures. Imports no JAX itself: the engine hands it `jax.numpy`.

May import: `phasegrok.errors`, `phasegrok.tasks`, `phasegrok.config`.
"""
