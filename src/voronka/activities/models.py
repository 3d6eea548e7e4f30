"""Comments now; tasks, counters and notifications arrive with the tasks capability."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from voronka.kernel import clock


class Comment(models.Model):
    object_type = models.CharField(max_length=16)  # deal / company / contact
    object_id = models.BigIntegerField()
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["object_type", "object_id", "created_at"], name="comment_obj_idx")]
