"""Issue 7 item 11 — labels are rendered when shown, in the reader's language, never frozen at
write time in the writer's: task types on the deal timeline ("Task: Встреча: …" in English),
choice codes in audited changes (a company's type), notification texts (written by a manager
or a sweep in one language, read by a colleague in another — on the page, through the API and
in the e-mail)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.utils import translation

from factories import make_task, system
from voronka.kernel.outbox import events_dispatch

pytestmark = pytest.mark.django_db


def _speaks(user: Any, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def _timeline(client: Any, deal: Any) -> str:
    html = client.get(f"/deals/{deal.pk}/").content.decode()
    return html.split('id="timeline"', 1)[1]


def test_task_type_on_the_deal_timeline_follows_the_reader(
    web: Any, records: Any, personas: Any
) -> None:
    from voronka.activities.tasks_services import task_create
    from voronka.kernel import clock
    from voronka.kernel.actor import Actor

    deal = records["a1"].deal
    a1 = personas["a1"].user
    _speaks(a1, "ru")
    with translation.override("ru"):  # written while Russian is active
        task_create(
            actor=Actor.for_user(a1),
            data={
                "type": "meeting",
                "responsible": a1.pk,
                "deadline": (clock.now() + dt.timedelta(days=1)).isoformat(),
                "comment": "Обсудить договор",
                "deal": deal.pk,
            },
        )
    client = web("a1")
    assert "Встреча: Обсудить договор" in _timeline(client, deal)
    _speaks(a1, "en")
    english = _timeline(client, deal)
    assert "Meeting: Обсудить договор" in english
    assert "Встреча" not in english


def test_timeline_rows_written_before_the_fix_are_translated_too(
    web: Any, records: Any, personas: Any
) -> None:
    """Old audit rows hold the Russian sentence «Звонок: …»: its type is still shown in English."""
    from voronka.kernel.models import AuditEntry

    deal = records["a1"].deal
    AuditEntry.objects.create(
        actor_kind="user",
        actor_user=personas["a1"].user,
        object_type="deal",
        object_id=deal.pk,
        action="task_created",
        changes={"task": [None, "Звонок: Перезвонить в пятницу"]},
    )
    _speaks(personas["a1"].user, "en")
    html = _timeline(web("a1"), deal)
    assert "Call: Перезвонить в пятницу" in html and "Звонок:" not in html


def test_choice_codes_and_field_names_in_changes_are_labels(
    web: Any, records: Any, personas: Any
) -> None:
    from voronka.contacts.models import CompanyType
    from voronka.contacts.services import company_update, contact_update

    company = records["a1"].company
    company_update(company=company, actor=system(), data={"type": "family", "website": "x.ru"})
    contact_update(contact=records["a1"].contact, actor=system(), data={"consent_mailing": True})
    client = web("a1")
    html = client.get(f"/companies/{company.pk}/").content.decode()
    assert "Юридическое лицо" in html and "Семья" in html
    assert "legal" not in html.split("timeline", 1)[1]
    _speaks(personas["a1"].user, "en")
    html = client.get(f"/companies/{company.pk}/").content.decode()
    with translation.override("en"):
        legal, family = str(CompanyType.LEGAL.label), str(CompanyType.FAMILY.label)
    assert legal in html and family in html and "Website" in html
    html = client.get(f"/contacts/{records['a1'].contact.pk}/").content.decode()
    assert "consent_mailing" not in html


def test_deal_changes_name_the_company_instead_of_its_number(
    web: Any, records: Any, personas: Any
) -> None:
    from voronka.deals.services import deal_update

    deal = records["a1"].deal
    deal_update(deal=deal, actor=system(), data={"company": records["a1"].spare_company.pk})
    html = _timeline(web("a1"), deal)
    assert "ООО Запасная a1" in html and "ООО Компания a1" in html


def test_notification_text_is_rendered_in_the_readers_language(
    web: Any, api: Any, records: Any, personas: Any
) -> None:
    """An English-speaking head assigns a task to a Russian-speaking manager: the manager reads
    Russian; the same notification read in English (page, API) is English — it is not a sentence
    frozen at write time."""
    from voronka.activities.models import Notification
    from voronka.activities.tasks_services import task_create
    from voronka.kernel import clock
    from voronka.kernel.actor import Actor

    head, a1 = personas["head_a"].user, personas["a1"].user
    _speaks(head, "en")
    _speaks(a1, "ru")
    with translation.override("en"):  # the head's request
        task_create(
            actor=Actor.for_user(head),
            data={
                "type": "call",
                "responsible": a1.pk,
                "deadline": (clock.now() + dt.timedelta(days=1)).isoformat(),
                "comment": "Позвонить клиенту",
                "deal": records["a1"].deal.pk,
            },
        )
    events_dispatch()  # what the worker does, outside the head's request
    note = Notification.objects.filter(user=a1).latest("id")
    assert note.text == "Новая задача: Позвонить клиенту"  # stored for the recipient
    assert note.params["message"] == "task_new"
    client = web("a1")
    assert "Новая задача: Позвонить клиенту" in client.get("/notifications/").content.decode()
    _speaks(a1, "en")
    html = client.get("/notifications/").content.decode()
    assert "New task: Позвонить клиенту" in html and "Новая задача" not in html
    body = api("a1").get_json("/api/v1/me/notifications", HTTP_ACCEPT_LANGUAGE="en").json()
    assert body[0]["text"] == "New task: Позвонить клиенту"


def test_rescheduled_deadline_is_shown_in_the_readers_zone_and_language(
    web: Any, records: Any, personas: Any, settings: Any
) -> None:
    from voronka.activities.models import Notification
    from voronka.activities.tasks_services import task_reschedule

    a1 = personas["a1"].user
    task = records["a1"].task
    when = dt.datetime(2030, 3, 4, 9, 30, tzinfo=dt.UTC)  # 12:30 in Moscow
    task_reschedule(task=task, actor=system(), deadline=when.isoformat(), reason="Клиент в отпуске")
    events_dispatch()
    note = Notification.objects.get(user=a1, kind="deadline_moved")
    assert note.params["values"]["when"].startswith("2030-03-04T09:30")
    _speaks(a1, "en")
    html = web("a1").get("/notifications/").content.decode()
    assert "Task rescheduled to 04.03.2030 12:30: Клиент в отпуске" in html


def test_notification_email_goes_out_in_the_recipients_language(
    records: Any, personas: Any, settings: Any
) -> None:
    from voronka.activities.jobs import send_notification_email
    from voronka.activities.models import Notification

    a1 = personas["a1"].user
    _speaks(a1, "en")
    with translation.override("ru"):
        make_task(responsible=a1, company=records["a1"].company)
        events_dispatch()
    note = Notification.objects.filter(user=a1).latest("id")
    mail.outbox.clear()
    send_notification_email.call(note.pk)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].body.startswith("New task: ")


def test_old_notifications_without_params_keep_their_text(web: Any, personas: Any) -> None:
    from voronka.activities.models import Notification

    Notification.objects.create(
        user=personas["a1"].user, kind="task_assigned", text="Старый текст уведомления"
    )
    assert "Старый текст уведомления" in web("a1").get("/notifications/").content.decode()
