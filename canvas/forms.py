from django import forms

from canvas.models import MAX_DELAY_TEXT, DelayUnit, delay_max_value


class CanvasForm(forms.Form):
    name = forms.CharField(max_length=200, label="Canvas name")


class DelayForm(forms.Form):
    delay_value = forms.IntegerField(
        min_value=1, max_value=delay_max_value(DelayUnit.SECONDS), label="Wait",
        error_messages={"max_value": f"A delay waits at most {MAX_DELAY_TEXT}."},
        help_text=f"At most {MAX_DELAY_TEXT}.",
    )
    delay_unit = forms.ChoiceField(choices=DelayUnit.choices, label="Unit")

    def clean(self):
        cleaned = super().clean()
        value, unit = cleaned.get("delay_value"), cleaned.get("delay_unit")
        if value is not None and unit and value > delay_max_value(unit):
            self.add_error("delay_value", f"A delay waits at most {MAX_DELAY_TEXT} "
                                          f"({delay_max_value(unit):,} {unit}).")
        return cleaned
