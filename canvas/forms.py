from django import forms

from canvas.models import DelayUnit


class CanvasForm(forms.Form):
    name = forms.CharField(max_length=200, label="Canvas name")


class DelayForm(forms.Form):
    delay_value = forms.IntegerField(min_value=1, label="Wait")
    delay_unit = forms.ChoiceField(choices=DelayUnit.choices, label="Unit")
