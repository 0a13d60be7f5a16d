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


class ExitCriteriaForm(forms.Form):
    """The canvas page's exit criteria; the service judges the values."""

    event_name = forms.CharField(required=False, strip=True, label="Exception event")
    event_property = forms.CharField(required=False, strip=True, label="Only when property")
    event_value = forms.CharField(required=False, strip=True, label="equals")


def _text(value) -> str:
    return "" if value is None else value


class SyncStepForm(forms.Form):
    """The Audience Sync editor's POST: one of its small forms, told apart by ``do``.

    Lenient on purpose: every value goes to the service as sent (a missing one empty), and
    the service says what is wrong with it, in the words of the editor.
    """

    do = forms.Field(required=False)
    partner = forms.Field(required=False)
    ad_account = forms.Field(required=False)
    audience = forms.Field(required=False)
    action = forms.Field(required=False)
    match_fields = forms.Field(required=False, widget=forms.MultipleHiddenInput)
    respect_ad_tracking = forms.Field(required=False)
    remove_on_exit = forms.Field(required=False)
    name = forms.Field(required=False)

    def clean_do(self) -> str:
        return _text(self.cleaned_data["do"])

    def clean_partner(self) -> str:
        return _text(self.cleaned_data["partner"])

    def clean_ad_account(self) -> int | None:
        try:
            return int(self.cleaned_data["ad_account"])
        except (TypeError, ValueError):
            return None

    def clean_audience(self) -> str:
        return _text(self.cleaned_data["audience"])

    def clean_action(self) -> str:
        action = self.cleaned_data["action"]
        return SyncAction.ADD if action is None else action

    def clean_match_fields(self) -> list[str]:
        return list(self.cleaned_data["match_fields"] or [])

    def clean_respect_ad_tracking(self) -> bool:
        return self.cleaned_data["respect_ad_tracking"] == "on"

    def clean_remove_on_exit(self) -> bool:
        return self.cleaned_data["remove_on_exit"] == "on"

    def clean_name(self) -> str:
        return _text(self.cleaned_data["name"])
