"""reelfix: colour-managed film restoration on image sequences and movies."""

__version__ = "0.1.0"
