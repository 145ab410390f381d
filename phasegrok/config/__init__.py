"""The sweep file -> a validated, typed sweep: pure Python, no JAX.

Owns the schema (every key, its type, default and meaning, whether it is traced per run), the
rules across keys (a task kind's own are its module's, `phasegrok.tasks`), grid axes and their
samplers, command-line overrides, error hints, and the check of a reference table.

May import: `phasegrok.errors`, `phasegrok.tasks`.
"""
