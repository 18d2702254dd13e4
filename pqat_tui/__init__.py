"""pqat-tui: the terminal app and command line over the `engine` package.

Importing this package must stay cheap: TensorFlow is loaded in the background by the app, never here.
"""

__version__ = "0.1.0"
