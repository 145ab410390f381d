"""The cyclic groups the Fourier lens reads a modular operation over.

add and sub label a pair by a group operation of Z_p, so the lens reads token j at index j.
mul and div at a prime p label it by the multiplicative group (Z/p)^*, cyclic of order p - 1:
with g a primitive root, index j holds the token g^j mod p (the discrete logarithm), and the
operation becomes addition of indices. Host-side Python and NumPy, static given (op, p).
"""

from __future__ import annotations

from functools import cache

import numpy as np


def prime_factors(n: int) -> list[int]:
    """The distinct prime factors of n >= 1, smallest first (trial division; n is a modulus)."""
    factors, d = [], 2
    while d * d <= n:
        if n % d == 0:
            factors.append(d)
            while n % d == 0:
                n //= d
        d += 1
    return factors + [n] * (n > 1)


def primitive_root(p: int) -> int:
    """The smallest generator g of the multiplicative group mod the prime p (cyclic, order p - 1).

    g generates it iff g^((p - 1) / q) != 1 mod p for every prime q dividing p - 1.
    """
    if prime_factors(p) != [p]:
        raise ValueError(f"primitive roots are taken mod a prime here, not {p}")
    qs = prime_factors(p - 1)
    return next(g for g in range(1, p) if all(pow(g, (p - 1) // q, p) != 1 for q in qs))


@cache
def group_tokens(op: str, p: int) -> np.ndarray | None:
    """The token at each index j of the cyclic group the lens reads `op` mod p over, or None.

    add, sub: token j (Z_p). mul, div at a prime p: token g^j mod p, j = 0 .. p - 2, g the
    smallest primitive root, so index j is the discrete logarithm log_g a. None where no cyclic
    group with a non-constant frequency applies (square_sum, add_integers, mul at a composite
    p, p = 2 for mul / div). Host-side NumPy, static given (op, p); the result is read-only
    (it is cached).
    """
    if op in ("add", "sub"):
        tokens = np.arange(p)
    elif op in ("mul", "div") and p > 2 and prime_factors(p) == [p]:
        g = primitive_root(p)
        tokens = np.array([pow(g, j, p) for j in range(p - 1)])
    else:
        return None
    tokens.flags.writeable = False
    return tokens


def n_frequencies(op: str, p: int) -> int:
    """Frequencies 1 .. n // 2 the lens reports for `op` mod p (n the group's order); 0: blank."""
    tokens = group_tokens(op, p)
    return 0 if tokens is None else len(tokens) // 2
