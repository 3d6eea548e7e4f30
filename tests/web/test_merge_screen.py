"""The merge screen, its banner and the history (contacts.views_merge; decision 0021): the
records side by side with a radio per differing field, what moves, confirm → the kept card with
"Объединено. Отменить" → undo; the card's "Объединить с…" search; refusals shown on the screen."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from factories import make_company, make_contact, make_deal
from voronka.contacts.models import Company, Contact, Merge


@pytest.fixture
def twins(records: Any) -> dict[str, Any]:
    user = records["a1"].user
    a = records["a1"].company
    b = make_company(responsible=user, name="ООО Компания a1 (дубль)", phone="+7 495 000-00-09")
    make_deal(responsible=user, company=b, title="Сделка дубля")
    make_contact(responsible=user, company=b, first_name="Пётр")
    return {"a": a, "b": b}


def test_the_screen_shows_both_records_and_what_moves(web: Any, twins: Any) -> None:
    a, b = twins["a"], twins["b"]
    r = web("head_a").get(reverse("contacts:merge"), {"entity": "company", "ids": [a.pk, b.pk]})
    assert r.status_code == 200
    html = r.content.decode()
    assert a.name in html and b.name in html
    assert 'name="f:name"' in html  # names differ: a radio per record
    assert 'name="f:inn"' not in html  # the same (empty) in both: no choice
    assert "data-merge-summary" in html and "Сделки" in html and "Контакты" in html


def test_confirm_merges_and_the_banner_undoes(web: Any, twins: Any) -> None:
    a, b = twins["a"], twins["b"]
    client = web("head_a")
    r = client.post(
        reverse("contacts:merge"),
        {"entity": "company", "ids": [a.pk, b.pk], "keep": a.pk, "f:name": b.pk},
    )
    assert r.status_code == 302
    merge = Merge.objects.get()
    assert r["Location"] == f"/companies/{a.pk}/?merged={merge.pk}"
    assert Company.objects.get(pk=a.pk).name == b.name
    assert not Company.objects.filter(pk=b.pk).exists()
    card = client.get(r["Location"]).content.decode()
    assert "data-merge-banner" in card and "Объединено." in card

    history = client.get(reverse("contacts:merges"), {"entity": "company"}).content.decode()
    assert f'data-merge-id="{merge.pk}"' in history and b.name in history

    r = client.post(reverse("contacts:merge-undo"), {"merge": merge.pk})
    assert r.status_code == 302
    assert Company.objects.filter(pk=b.pk).exists()
    assert Company.objects.get(pk=a.pk).name == a.name


def test_a_refused_merge_is_shown_on_the_screen(web: Any, twins: Any, records: Any) -> None:
    a, b = twins["a"], twins["b"]
    r = web("a1").post(
        reverse("contacts:merge"), {"entity": "company", "ids": [a.pk, b.pk], "keep": a.pk}
    )
    assert r.status_code == 403
    assert "data-merge-error" in r.content.decode()
    assert Company.objects.filter(pk=b.pk).exists()


def test_a_record_outside_the_scope_is_404(web: Any, twins: Any, records: Any) -> None:
    other = records["b1"].company
    r = web("head_a").get(
        reverse("contacts:merge"), {"entity": "company", "ids": [twins["a"].pk, other.pk]}
    )
    assert r.status_code == 404


def test_merge_with_searches_other_records(web: Any, records: Any) -> None:
    contact = records["a1"].contact
    twin = make_contact(
        responsible=records["a1"].user, company=records["a1"].company, first_name="Контакт a1"
    )
    r = web("head_a").get(
        reverse("contacts:merge"), {"entity": "contact", "ids": contact.pk, "q": "Контакт a1"}
    )
    html = r.content.decode()
    assert f'data-merge-candidate="{twin.pk}"' in html
    assert f'data-merge-candidate="{contact.pk}"' not in html  # not itself
    assert Contact.objects.count() > 1


def test_undo_refused_after_an_edit_shows_why(web: Any, twins: Any) -> None:
    a, b = twins["a"], twins["b"]
    client = web("head_a")
    client.post(reverse("contacts:merge"), {"entity": "company", "ids": [a.pk, b.pk]})
    merge = Merge.objects.get()
    Company.objects.filter(pk=a.pk).update(version=999)  # edited since
    r = client.post(
        reverse("contacts:merge-undo"),
        {"merge": merge.pk, "next": "/merges/?entity=company"},
        follow=True,
    )
    assert "отменить его нельзя" in r.content.decode()
    assert not Company.objects.filter(pk=b.pk).exists()
