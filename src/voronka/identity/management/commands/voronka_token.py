from django.core.management.base import BaseCommand, CommandError

from voronka.identity.models import User
from voronka.identity.services import api_token_create


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (only its hash is stored)."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument("--name", default="cli")

    def handle(self, *args, **opts):  # type: ignore[no-untyped-def]
        user = User.objects.filter(username=opts["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {opts['username']!r}")
        _token, raw = api_token_create(user=user, name=opts["name"])
        self.stdout.write(raw)
