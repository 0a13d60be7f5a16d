"""django-q2 entry points of the ground floor."""

from .attributes import attribute_catalogue_count


def count_attributes() -> int:
    """Count the profiles having each custom attribute of every workspace's catalogue."""
    return attribute_catalogue_count()
