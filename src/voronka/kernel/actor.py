"""Who did it: every write names its actor (a user, the API, automation, an import, a PBX)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voronka.identity.models import User


class ActorKind(StrEnum):
    USER = "user"
    API = "api"
    AUTOMATION = "automation"
    IMPORT = "import"
    PBX = "pbx"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    user: User | None = None
    request_id: str = ""
    ip: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None

    @classmethod
    def for_user(
        cls, user: User, *, request: Any = None, kind: ActorKind = ActorKind.USER
    ) -> Actor:
        request_id = getattr(request, "request_id", "") if request is not None else ""
        ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
        return cls(kind=kind, user=user, request_id=request_id, ip=ip)

    @classmethod
    def system(cls) -> Actor:
        return cls(kind=ActorKind.SYSTEM)
