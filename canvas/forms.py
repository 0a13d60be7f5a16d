from django import forms

from canvas.models import MAX_DELAY_TEXT, DelayUnit, SyncAction, delay_max_value


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


def _text(value) -> str:
    return "" if value is None else value


class SyncStepForm(forms.Form):
    """The Audience Sync editor's one form.

    Lenient on purpose: every value goes to the service as sent (a missing one empty), and
    the service says what is wrong with each, in the words of the editor, next to its field.
    """

    partner = forms.Field(required=False)
    ad_account = forms.Field(required=False)
    audience = forms.Field(required=False)
    q = forms.Field(required=False)
    action = forms.Field(required=False)
    match_fields = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    respect_ad_tracking = forms.Field(required=False)
    confirm_duplicate = forms.Field(required=False)

    def clean_partner(self) -> str:
        return _text(self.cleaned_data["partner"])

    def clean_ad_account(self) -> int | None:
        try:
            return int(self.cleaned_data["ad_account"])
        except (TypeError, ValueError):
            return None

    def clean_audience(self) -> str:
        return _text(self.cleaned_data["audience"])

    def clean_q(self) -> str:
        return _text(self.cleaned_data["q"])

    def clean_action(self) -> str:
        action = self.cleaned_data["action"]
        return SyncAction.ADD if action is None else action

    def clean_match_fields(self) -> list[str]:
        return list(self.cleaned_data["match_fields"] or [])

    def clean_respect_ad_tracking(self) -> bool:
        return self.cleaned_data["respect_ad_tracking"] == "on"

    def clean_confirm_duplicate(self) -> bool:
        return self.cleaned_data["confirm_duplicate"] == "on"


class LookalikeForm(forms.Form):
    """A look-alike's name and the partner's own choices (``Partner.lookalike_options``).

    Lenient like the sync editor's: the service checks every value and names what is wrong.
    """

    name = forms.CharField(label="Look-alike name", max_length=255)

    def __init__(self, *args, options=(), initial_name: str = "", **kwargs):
        super().__init__(*args, initial={"name": initial_name,
                                         **{o.name: o.default for o in options}}, **kwargs)
        for option in options:
            if option.choices:
                field = forms.ChoiceField(choices=option.choices, label=option.label,
                                          help_text=option.help)
            else:
                field = forms.IntegerField(min_value=option.low, max_value=option.high,
                                           label=option.label, help_text=option.help)
            self.fields[option.name] = field
