"""Training: the only JAX-heavy layer. A batch of runs -> its curves and parameters.

Owns the models (`models/`, one module per kind of input), the optimizers, one run's pure
training functions, the vmapped batch with its strategies, and the lens values measured on a
trained batch. The task data come from the task kinds (`phasegrok.tasks`). Knows no files.

May import: `phasegrok.errors`, `phasegrok.tasks`, `phasegrok.config`, `phasegrok.plan`,
`phasegrok.lens`, `phasegrok.store.columns`.
"""
