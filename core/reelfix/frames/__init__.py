"""Frames, sequence patterns, and the readers/writers for image sequences and movies."""
