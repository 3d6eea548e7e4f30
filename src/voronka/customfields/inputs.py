"""The input fields of a custom field definition: the one declaration `custom_field_create`
and `custom_field_update` both clean by (kernel.inputs)."""

from __future__ import annotations

from voronka.kernel.customfields import MAX_STRING
from voronka.kernel.inputs import EntityInput, In, Kind

CUSTOM_FIELD = EntityInput(
    "custom_field",
    {
        "entity": In(Kind.CHOICE, update=False),
        "key": In(Kind.CODE, max_length=50, required=True, update=False),
        "name": In(Kind.TEXT, max_length=120, required=True),
        "type": In(Kind.CHOICE, required=True, update=False),
        "choices": In(Kind.LIST),
        "is_active": In(Kind.BOOL, create=False),
    },
)
# One variant of a list field, and how many a field may have.
CHOICE_MAX_LENGTH = 120
MAX_CHOICES = 500

# A custom field's value by type, where a form limits its length (kernel.customfields cleans it).
CUSTOM_VALUE = EntityInput(
    "custom_value",
    {
        "string": In(Kind.TEXT, max_length=MAX_STRING),
        "address": In(Kind.TEXT, max_length=MAX_STRING),
        "link": In(Kind.CODE, max_length=MAX_STRING),
    },
)
