import json

from django import forms

from canvas.models import (
    MAX_DELAY_TEXT,
    DelayUnit,
    EntryMode,
    Reentry,
    ReentryUnit,
    ScheduleKind,
    SyncAction,
    delay_max_value,
)
from canvas.segments.models import Segment
from canvas.services.entry_settings import WEEKDAYS, EntrySettings


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


class EntrySettingsForm(forms.Form):
    """The entry settings section of the canvas page; the service checks what it saves."""

    entry_mode = forms.ChoiceField(choices=EntryMode.choices, label="Entry mode",
                                   widget=forms.RadioSelect)
    target_segment_id = forms.TypedChoiceField(
        coerce=int, empty_value=None, required=False, label="Target audience",
        help_text="Only its members enter, whichever way in; the entries API answers the "
                  "others as not eligible.")
    target_filters = forms.CharField(
        required=False, label="Extra filters (optional)",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='Filters of the segment kinds on top of the segment, as a segment '
                  'definition: {"groups": [...], "exclusions": [...]}.')
    schedule_kind = forms.ChoiceField(choices=ScheduleKind.choices, label="Runs",
                                      required=False)
    schedule_date = forms.DateField(required=False, label="Date",
                                    widget=forms.DateInput(attrs={"type": "date"}))
    schedule_time = forms.TimeField(required=False, label="Time",
                                    widget=forms.TimeInput(attrs={"type": "time"}))
    schedule_weekdays = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)), coerce=int, required=False,
        label="Days of the week (weekly)", widget=forms.CheckboxSelectMultiple)
    schedule_monthday = forms.IntegerField(
        min_value=1, max_value=31, required=False, label="Day of the month (monthly)",
        help_text="Past the end of a shorter month, it runs on the month's last day.")
    schedule_end_date = forms.DateField(
        required=False, label="Last day (optional)",
        widget=forms.DateInput(attrs={"type": "date"}))
    reentry = forms.ChoiceField(choices=Reentry.choices, label="Re-entry",
                                help_text="A user inside the canvas never enters it twice.")
    reentry_wait_value = forms.IntegerField(min_value=1, required=False,
                                            label="Re-entry wait")
    reentry_wait_unit = forms.ChoiceField(choices=[("", "---"), *ReentryUnit.choices],
                                          required=False, label="Re-entry wait unit")
    cap_per_run = forms.IntegerField(min_value=1, required=False,
                                     label="Most entries per scheduled run")
    cap_per_day = forms.IntegerField(min_value=1, required=False, label="Most entries per day",
                                     help_text="A day in the workspace's time zone.")
    cap_total = forms.IntegerField(min_value=1, required=False, label="Most entries in total")

    def __init__(self, *args, workspace, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["target_segment_id"].choices = [
            ("", "Every profile of the workspace"),
            *Segment.objects.filter(workspace=workspace).values_list("pk", "name")]

    GROUPS = (
        ("How users enter", ("entry_mode", "target_segment_id", "target_filters")),
        ("When a scheduled canvas runs", ("schedule_kind", "schedule_date", "schedule_time",
                                          "schedule_weekdays", "schedule_monthday",
                                          "schedule_end_date")),
        ("Re-entry", ("reentry", "reentry_wait_value", "reentry_wait_unit")),
        ("Entry caps (optional)", ("cap_per_run", "cap_per_day", "cap_total")),
    )

    @property
    def groups(self) -> list[dict]:
        """The fields in the page's fieldsets, in order."""
        return [{"legend": legend, "fields": [self[name] for name in names]}
                for legend, names in self.GROUPS]

    def clean_target_filters(self) -> dict:
        text = self.cleaned_data["target_filters"].strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}.") from None

    def entry_settings(self) -> EntrySettings:
        data = dict(self.cleaned_data)
        data["schedule_kind"] = data["schedule_kind"] or ScheduleKind.AT_LAUNCH
        data["schedule_weekdays"] = tuple(data["schedule_weekdays"])
        return EntrySettings(**data)

    @classmethod
    def initial_of(cls, canvas) -> dict:
        initial = {name: getattr(canvas, name) for name in cls.base_fields}
        initial["target_filters"] = json.dumps(canvas.target_filters) if canvas.target_filters else ""
        return initial
