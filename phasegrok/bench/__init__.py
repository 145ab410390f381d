"""`python -m phasegrok.bench`: throughput of fixed benchmark configurations.

`cli` times the benchmark configurations one process each; `workers` compares N single-core
`--worker` processes with one process on every core.

May import: anything of phasegrok (it is a command, at the top).
"""
