"""Segments: named, reusable choices of a workspace's profiles (see ``compile`` for the
definition and its meaning)."""
