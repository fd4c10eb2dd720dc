"""What can go wrong reading a capture, as exception and warning classes."""

from ._native import CaptureError, CorruptCaptureError, NotACaptureError, TruncatedCaptureError

__all__ = ["CaptureError", "CaptureWarning", "CorruptCaptureError", "NotACaptureError", "TruncatedCaptureError"]


class CaptureWarning(UserWarning):
    """A capture was read, but not all of it: cut short, or packets of a link type that
    is not decoded."""
