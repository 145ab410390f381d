"""Running a sweep: the one pipeline, the process around it, and where batches train.

Owns the pipeline (`pipeline`: prepare, train, finish; its typed `RunOptions` and the
`Executor` protocol), the in-process training loop (`local`), the executors beyond it
(`--worker` processes sharing a folder, Ray tasks), the host set-up (devices, compile cache)
and the progress bar.

May import: `phasegrok.errors`, `.tasks`, `.config`, `.plan`, `.store`, `.lens`, `.engine`,
`.analysis`, `.report`.
"""
