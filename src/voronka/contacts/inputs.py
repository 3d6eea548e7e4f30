"""The input fields of companies and contacts: the one declaration the services clean by, and
the API schemas and forms are checked against (kernel.inputs)."""

from __future__ import annotations

from voronka.kernel.inputs import EntityInput, In, Kind

COMPANY = EntityInput(
    "company",
    {
        "name": In(Kind.TEXT, max_length=255, required=True),
        "type": In(Kind.CHOICE),
        # Codes are read by their normalizers; the limit only bounds what reaches them.
        "inn": In(Kind.CODE, max_length=40),
        "kpp": In(Kind.CODE, max_length=40),
        "ogrn": In(Kind.CODE, max_length=40),
        "bank_bik": In(Kind.CODE, max_length=40),
        "bank_account": In(Kind.CODE, max_length=40),
        "bank_name": In(Kind.TEXT, max_length=255),
        "phone": In(Kind.CODE, max_length=40),
        "email": In(Kind.CODE, max_length=254),
        "website": In(Kind.CODE, max_length=255),
        "comment": In(Kind.TEXT, max_length=10000),
        "responsible": In(Kind.ID),
        "custom": In(Kind.OBJECT),
        "addresses": In(Kind.LIST),
        "version": In(Kind.VERSION, create=False),
    },
)

# One item of a company's `addresses`.
ADDRESS = EntityInput(
    "address",
    {
        "kind": In(Kind.CHOICE),
        "text": In(Kind.TEXT, max_length=500, required=True),
        "postal_code": In(Kind.CODE, max_length=10),
    },
)

CONTACT = EntityInput(
    "contact",
    {
        "company": In(Kind.ID),  # omitted on create: a family company is made
        "last_name": In(Kind.TEXT, max_length=80),
        "first_name": In(Kind.TEXT, max_length=80, required=True),
        "middle_name": In(Kind.TEXT, max_length=80),
        "position": In(Kind.TEXT, max_length=120),
        "birthday": In(Kind.DATE),
        "messengers": In(Kind.OBJECT),
        "consent_calls": In(Kind.BOOL),
        "consent_mailing": In(Kind.BOOL),
        "comment": In(Kind.TEXT, max_length=10000),
        "responsible": In(Kind.ID),
        "custom": In(Kind.OBJECT),
        "phones": In(Kind.LIST),
        "emails": In(Kind.LIST),
        "version": In(Kind.VERSION, create=False),
    },
)

# One item of a contact's lists: a phone, an e-mail, a messenger login.
CONTACT_ITEM = EntityInput(
    "contact_item",
    {
        "phone": COMPANY.fields["phone"],
        "email": COMPANY.fields["email"],
        "messenger": In(Kind.TEXT, max_length=200),
    },
)
