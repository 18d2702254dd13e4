"""Keep Python's full garbage collections out of the way of keys.

A full (generation 2) collection walks every live object: with the app's widgets, results and rendered
lines that took 65–100 ms here, once every second or so of key presses, and was the slowest key-to-screen
times. After one collection at a quiet moment (the screen is built, a stage has ended), `gc.freeze()` moves
the survivors out of the collector's sight, so later collections walk only what is new.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect once now, then exempt every survivor from later collections until the next settle."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
