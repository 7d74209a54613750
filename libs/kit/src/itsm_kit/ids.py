"""Random (version 4) UUIDs as strings, for ids made by the hundred thousand (events, imports)."""

from __future__ import annotations

import os

_VARIANT = "89ab"
_BATCH = 256  # ids per read of the system's randomness: one system call for many ids
_pool: list[str] = []


def uuid4() -> str:
    """What str(uuid.uuid4()) gives, at a fraction of its cost: the same random bits, read for
    many ids at once and formatted directly."""
    if not _pool:
        h = os.urandom(16 * _BATCH).hex()
        _pool.extend(f"{h[i:i + 8]}-{h[i + 8:i + 12]}-4{h[i + 13:i + 16]}-{_VARIANT[int(h[i + 16], 16) & 3]}"
                     f"{h[i + 17:i + 20]}-{h[i + 20:i + 32]}" for i in range(0, 32 * _BATCH, 32))
    return _pool.pop()
