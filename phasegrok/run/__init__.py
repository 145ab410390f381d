"""Running a sweep: the process around it, refinement rounds, and where batches run.

Owns the host set-up (devices, compile cache), the progress bar, and the executors beyond the
in-process one: `--worker` processes sharing a folder, and Ray tasks.

May import: `phasegrok.config`, `.plan`, `.store`, `.lens`, `.engine`, `.analysis`.
"""
