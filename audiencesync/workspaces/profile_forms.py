from django import forms

from .fields import USER_FIELDS


class ProfileImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=(
            f"UTF-8, first line a header. Known columns: {', '.join(USER_FIELDS)}; "
            "only external_id is required. Any other column is kept as an attribute."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class EventImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=("UTF-8, first line a header: external_id, name, time, then any property "
                   "columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
