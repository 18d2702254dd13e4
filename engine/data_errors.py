"""The one exception every data reader raises (numpy only, no TensorFlow)."""

from __future__ import annotations


class DataError(Exception):
    """A data source that cannot be used; the message is one line naming the file and the fault."""
