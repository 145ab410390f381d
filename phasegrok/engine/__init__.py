"""Training: the only JAX-heavy layer. A batch of runs -> its curves and parameters.

Owns the task data, the models, the optimizers, one run's pure training functions, the vmapped
batch with its strategies, and the lens values measured on a trained batch. Knows no files.

May import: `phasegrok.config`, `phasegrok.plan`, `phasegrok.lens`, `phasegrok.store.columns`.
"""
