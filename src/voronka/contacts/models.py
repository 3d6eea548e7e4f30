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
