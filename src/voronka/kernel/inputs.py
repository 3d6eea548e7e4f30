"""One declaration of an entity's input fields: which keys a create and an update take, each
field's kind, its length limit and whether it is required.

Each app declares its entities in `<app>/inputs.py`. The services read their whitelists and
text limits from it (`EntityInput.clean_texts`, one call for create and update alike), and
tests/domain/test_dom_inputs.py checks every ninja request schema and every form's maxlength
against it — so the limits cannot drift apart again (custom_field_update once stored what
custom_field_create refused)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from django.utils.translation import gettext as _

from voronka.kernel.fields import FieldCleaner


class Kind(StrEnum):
    TEXT = "text"  # free text: FieldCleaner.text (control characters dropped, a length limit)
    CODE = "code"  # a normalized code or address (INN, phone, e-mail, URL): its own normalizer
    CHOICE = "choice"  # one of a fixed set of codes
    ID = "id"  # a record id (JSON integer, never `true`)
    IDS = "ids"  # a list of record ids
    VERSION = "version"  # the optimistic lock
    MONEY = "money"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    MOMENT = "moment"  # a date and time
    LIST = "list"  # a list of texts or objects
    OBJECT = "object"  # a mapping (custom values, messengers)


@dataclass(frozen=True)
class In:
    """One input field. `required`: given on create and never blank; `create`/`update`: which
    writes take it; `max_length`: the limit of a text (the schema's and the form's too)."""

    kind: Kind
    max_length: int | None = None
    required: bool = False
    create: bool = True
    update: bool = True


@dataclass(frozen=True)
class EntityInput:
    name: str
    fields: Mapping[str, In] = field(default_factory=dict)

    @property
    def create_keys(self) -> frozenset[str]:
        return frozenset(k for k, f in self.fields.items() if f.create)

    @property
    def update_keys(self) -> frozenset[str]:
        return frozenset(k for k, f in self.fields.items() if f.update)

    def keys(self, *, creating: bool) -> set[str]:
        return set(self.create_keys if creating else self.update_keys)

    def max_length(self, key: str) -> int:
        """The declared limit of a bounded field (a field without one is a programming error)."""
        limit = self.fields[key].max_length
        if limit is None:
            raise KeyError(f"{key} has no declared max_length")
        return limit

    def clean_texts(self, c: FieldCleaner, *, creating: bool) -> None:
        """Clean every free-text field present (and bound every code), and name the required ones missing on create —
        the same rule for a create and an update (only presence differs)."""
        for key, spec in self.fields.items():
            if not (spec.create if creating else spec.update):
                continue
            if spec.kind == Kind.TEXT:
                assert spec.max_length is not None, f"{self.name}.{key}: a text needs a max_length"
                c.text(key, max_length=spec.max_length, required=spec.required)
            elif spec.kind == Kind.CODE and spec.max_length is not None:
                # The declared bound before any normalizer reads it: a 1 MB "phone" is
                # refused by its length, as the API schema refuses it.
                raw = c.data.get(key)
                if isinstance(raw, str) and len(raw.strip()) > spec.max_length:
                    c.error(key, _("Не длиннее %(n)s символов") % {"n": spec.max_length})
        self.require_present(c, creating=creating)

    def require_present(self, c: FieldCleaner, *, creating: bool) -> None:
        if not creating:
            return
        for key, spec in self.fields.items():
            if spec.required and spec.create and not c.has(key):
                c.errors.setdefault(key, _("Обязательное поле"))
