"""pqat-tui: the terminal app and command line over the `engine` package.

Importing this package must stay cheap: TensorFlow is loaded in the background by the app, never here.
"""

import os

# Set before Textual is imported (it reads it once). At Textual's default 60 frames a second, a key that
# lands just after a training-progress frame waits up to 17 ms for its own; at 120, up to 8 ms
# (benchmarks/responsiveness.py: p95 58-60 -> 43-46 ms while training). A user's own setting wins.
os.environ.setdefault("TEXTUAL_FPS", "120")

__version__ = "0.1.0"
