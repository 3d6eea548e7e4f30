"""Clients: companies (legal entity, ИП, family) and the people who belong to them."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from voronka.kernel.models import TimeStampedModel
from voronka.kernel.money import MoneySums


class CompanyType(models.TextChoices):
    LEGAL = "legal", _("Юридическое лицо")
    SOLE_PROPRIETOR = "sole_proprietor", _("ИП")
    FAMILY = "family", _("Семья")


class Company(TimeStampedModel):
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=20, choices=CompanyType.choices, default=CompanyType.LEGAL)
    inn = models.CharField(max_length=12, blank=True, db_index=True)
    kpp = models.CharField(max_length=9, blank=True)
    ogrn = models.CharField(max_length=15, blank=True)
    bank_bik = models.CharField(max_length=9, blank=True)
    bank_account = models.CharField(max_length=20, blank=True)
    bank_name = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=20, blank=True, db_index=True)
    email = models.CharField(max_length=254, blank=True, db_index=True)
    website = models.CharField(max_length=255, blank=True)
    comment = models.TextField(blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="companies"
    )
    custom = models.JSONField(default=dict, blank=True)
    # LTV in the main currency (kernel.money.MAIN_CURRENCY): the won deals in that currency;
    # every currency is in deals.CompanyLtv. Maintained by deals.counters.deal_state_changed.
    ltv = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    # Kept with the LTV by the deal services (seed 002: the client's history at a glance).
    deals_count = models.PositiveIntegerField(default=0, db_default=0)
    won_count = models.PositiveIntegerField(default=0, db_default=0)
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "companies"
        indexes = [models.Index(fields=["responsible", "name"], name="company_resp_name_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def ltv_sums(self) -> MoneySums:
        """LTV per currency (the deals.CompanyLtv cells; a list prefetches "ltv_cells")."""
        return MoneySums.of((cell.currency, cell.amount) for cell in self.ltv_cells.all())


class CompanyAddress(models.Model):
    class Kind(models.TextChoices):
        LEGAL = "legal", _("Юридический")
        ACTUAL = "actual", _("Фактический")
        DELIVERY = "delivery", _("Доставки")
        HOME = "home", _("Домашний")

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="addresses")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.ACTUAL)
    text = models.CharField(max_length=500)
    postal_code = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["id"]


class Contact(TimeStampedModel):
    company = models.ForeignKey(Company, on_delete=models.PROTECT, related_name="contacts")
    last_name = models.CharField(max_length=80, blank=True)
    first_name = models.CharField(max_length=80)
    middle_name = models.CharField(max_length=80, blank=True)
    position = models.CharField(max_length=120, blank=True)
    birthday = models.DateField(null=True, blank=True)
    messengers = models.JSONField(default=dict, blank=True)
    consent_calls = models.BooleanField(default=True)
    consent_mailing = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="contacts"
    )
    custom = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["last_name", "first_name", "id"]
        indexes = [models.Index(fields=["responsible", "last_name"], name="contact_resp_name_idx")]

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.middle_name) if p)

    def __str__(self) -> str:
        return self.full_name


class ContactPhone(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    number = models.CharField(max_length=20, db_index=True, help_text="E.164")
    kind = models.CharField(max_length=12, default="mobile")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "number"], name="contactphone_uniq"),
        ]


class ContactEmail(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    address = models.CharField(max_length=254, db_index=True)
    kind = models.CharField(max_length=12, default="work")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "address"], name="contactemail_uniq"),
        ]


class ClientEntity(models.TextChoices):
    CONTACT = "contact", _("Контакт")
    COMPANY = "company", _("Компания")


class KeyKind(models.TextChoices):
    """What a ClientKey is. Exact kinds identify a client on their own (seed 001: the existing
    client is used); the others only propose candidates that a person confirms."""

    PHONE = "phone", _("Телефон")
    EMAIL = "email", _("E-mail")
    INN = "inn", _("ИНН")
    NAME = "name", _("Имя")
    ADDRESS = "address", _("Адрес")
    BLOCK = "block", _("Похожее имя")


EXACT_KINDS = (KeyKind.PHONE, KeyKind.EMAIL, KeyKind.INN)


class ClientKey(models.Model):
    """One normalized key of a contact or company (contacts.keys): the index duplicate control
    looks a new record up in, and the blocks the full scan compares within. Derived data: the
    services rewrite a record's keys with it, `voronka duplicates reindex` rebuilds them all."""

    entity = models.CharField(max_length=8, choices=ClientEntity.choices)
    object_id = models.BigIntegerField()
    kind = models.CharField(max_length=8, choices=KeyKind.choices)
    key = models.CharField(max_length=254)

    class Meta:
        indexes = [
            # The look-up (entity, kind, key) and the scan's GROUP BY read this one index.
            models.Index(fields=["entity", "kind", "key"], name="clientkey_lookup_idx"),
        ]
        constraints = [
            # Also a record's keys (entity, object_id): its index's first columns — a separate
            # index of those was a third one to write for every key (an import writes ~8 per
            # contact) and read by nothing the unique one does not serve.
            models.UniqueConstraint(
                fields=["entity", "object_id", "kind", "key"], name="clientkey_uniq"
            ),
        ]


class DuplicateScan(models.Model):
    """One run of the full duplicate scan (scheduled through the worker, or on demand)."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Идёт")
        DONE = "done", _("Готово")
        FAILED = "failed", _("Ошибка")

    entity = models.CharField(max_length=8, choices=ClientEntity.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    records = models.PositiveIntegerField(default=0)  # compared so far (the progress bar)
    total = models.PositiveIntegerField(default=0)
    groups = models.PositiveIntegerField(default=0)
    peak_memory_kb = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]


class DuplicateGroup(models.Model):
    """Records the scan believes are one client, with the score and the fields that matched.
    `signature` (the sorted ids) keeps a person's decision ("not duplicates") across scans."""

    class Status(models.TextChoices):
        OPEN = "open", _("Не разобрано")
        DISMISSED = "dismissed", _("Не дубли")
        MERGED = "merged", _("Объединено")

    entity = models.CharField(max_length=8, choices=ClientEntity.choices)
    signature = models.CharField(max_length=255)
    ids = models.JSONField(default=list)
    score = models.FloatField()
    matched = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    scan = models.ForeignKey(
        DuplicateScan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    found_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score", "id"]
        indexes = [models.Index(fields=["entity", "status", "score"], name="dupgroup_list_idx")]
        constraints = [
            models.UniqueConstraint(fields=["entity", "signature"], name="dupgroup_signature_uniq"),
        ]


class Merge(models.Model):
    """One merge of contacts or companies into the kept one: what was chosen and everything
    needed to undo it (the merged rows and every link moved), while nothing later depends on it."""

    entity = models.CharField(max_length=8, choices=ClientEntity.choices)
    kept_id = models.BigIntegerField()
    merged_ids = models.JSONField(default=list)
    fields = models.JSONField(default=dict)  # field → the id whose value won
    undo = models.JSONField(default=dict)  # the merged records and the links, as they were
    kept_version = models.PositiveIntegerField()  # the kept record's version right after
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["entity", "kept_id"], name="merge_kept_idx")]
