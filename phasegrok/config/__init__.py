"""The sweep file -> a validated, typed sweep: pure Python, no JAX.

Owns the schema (every key, its type and default, whether it is traced per run), the rules
across keys, grid axes and their samplers, command-line overrides, the one error type for bad
input (`inputs.ConfigError`), and the checks of the files a sweep names (a reference table, an
arrays task's data, the cyclic groups of the modular operations).

May import: nothing else of phasegrok.
"""
