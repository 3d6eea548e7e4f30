"""Background jobs (Django Tasks API, run by `voronka worker`): load by id, call a service.
Each is idempotent: running twice has the effect of running once."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django_tasks import task

from voronka.activities.models import Notification
from voronka.activities.notifications import notification_text
from voronka.activities.tasks_services import tasks_overdue_emit
from voronka.kernel import clock
from voronka.kernel.jobs import periodic


@task()
def send_notification_email(notification_id: int) -> bool:
    """Send one notification e-mail. The row is claimed first (emailed_at set by a
    conditional UPDATE), so two workers never both send it."""
    with transaction.atomic():
        claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
            emailed_at=clock.now()
        )
    if not claimed:
        return False
    notification = Notification.objects.select_related("user", "task").get(pk=notification_id)
    user = notification.user
    if not user.email or not user.is_active:
        return False
    with translation.override(user.language or settings.LANGUAGE_CODE):
        subject = f"Voronka: {notification.get_kind_display()}"
        link = ""
        if notification.deal_id:
            link = f"{settings.VORONKA_BASE_URL}/deals/{notification.deal_id}/"
        body = notification_text(notification) + (f"\n\n{link}" if link else "")
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [user.email])
    except Exception:
        # Release the claim so a retry can send it; the error shows in the task result.
        Notification.objects.filter(pk=notification_id).update(emailed_at=None)
        raise
    return True


@periodic("tasks_overdue", every=dt.timedelta(minutes=1))
@task()
def emit_overdue_tasks() -> int:
    """Emit task.overdue for the open tasks whose deadline has passed (each once per deadline)."""
    return tasks_overdue_emit()
