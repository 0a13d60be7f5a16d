from django import template

from canvas.steps import step_type as kind_of

register = template.Library()


@register.filter
def get_item(mapping, key):
    """{{ mapping|get_item:key }}: a dict lookup by a variable key."""
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def step_type(step):
    """{{ step|step_type }}: the entry of the step's kind in the table of kinds."""
    return kind_of(step.kind)


@register.filter
def describe(step) -> str:
    """{{ step|describe }}: what tells the step from others of its kind."""
    return kind_of(step.kind).describe(step=step)


@register.filter
def metric(metrics, name: str):
    """{{ m|metric:counter.name }}: a step metric by its counter name."""
    return getattr(metrics, name)


@register.filter
def shown_on_canvas(counters):
    """The counters a kind shows on the canvas page (those with a short label)."""
    return [counter for counter in counters if counter.short]


@register.filter
def in_zone(moment, zone):
    """{{ moment|in_zone:zone|date:"..." }}: a UTC instant as the workspace's wall time."""
    return moment.astimezone(zone) if moment else moment
