"""The results folder: batch parts written atomically, claims, and the assembled tables.

Owns the folder's layout, the parts of each finished batch (checked before use), the claims
that let many workers share one folder, progress.parquet, and the names of the results'
columns (`columns`).

May import: `phasegrok.errors`, `phasegrok.tasks`, `phasegrok.config`.
"""
