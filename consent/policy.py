"""Who may use a cameo: the owner's audience, approvals, revocations, and the teen and
guardian rules. Pure functions over plain data, so every rule is unit-tested on its own and
the same function decides at admission, in the output check and again at release."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Audience = Literal["only_me", "approved", "mutuals", "everyone"]
AUDIENCES: tuple[str, ...] = ("only_me", "approved", "mutuals", "everyone")


@dataclass(frozen=True)
class Guardian:
    daily_limit: int | None = None
    # Whether other people may use this teen's cameo (and whether the teen may use other
    # people's cameos). Unset means: peers (other teens) follow the audience rules, adults
    # never do — an adult needs the guardian's explicit yes.
    cameos_allowed: bool | None = None


@dataclass(frozen=True)
class CameoPolicy:
    cameo_id: str
    owner_id: str
    owner_age_band: str
    status: str = "active"
    audience: str = "only_me"
    approved: frozenset[str] = frozenset()
    revoked: frozenset[str] = frozenset()
    protected: bool = False  # a public figure enrolled by an admin
    display_name: str = ""
    owner_connections: frozenset[str] = frozenset()
    guardian: Guardian | None = None


@dataclass(frozen=True)
class Requester:
    user_id: str
    age_band: str
    guardian: Guardian | None = None


@dataclass(frozen=True)
class Grant:
    granted: bool
    reason: str
    details: dict[str, str] = field(default_factory=dict)


def default_audience(owner_age_band: str) -> str:
    return "only_me"


def validate_audience(owner_age_band: str, audience: str) -> str | None:
    """An error message when the audience is not allowed for this owner."""
    if audience not in AUDIENCES:
        return f"audience must be one of {', '.join(AUDIENCES)}"
    if owner_age_band == "teen" and audience == "everyone":
        return "a teen's cameo can never be shared with everyone"
    return None


def grants(cameo: CameoPolicy, who: Requester) -> Grant:
    """Does ``cameo`` allow ``who`` to appear... to make a video with this face?"""
    name = cameo.display_name or cameo.cameo_id
    if cameo.status != "active":
        return Grant(False, f"cameo {name} is {cameo.status}")
    if who.user_id == cameo.owner_id:
        return Grant(True, "the owner")
    if who.age_band == "teen" and who.guardian is not None and who.guardian.cameos_allowed is False:
        return Grant(False, f"the guardian of {who.user_id} does not allow cameos of other people")
    if who.user_id in cameo.revoked:
        return Grant(False, f"cameo {name} revoked its grant to {who.user_id}")
    if cameo.owner_age_band == "teen":
        allowed = cameo.guardian.cameos_allowed if cameo.guardian else None
        if allowed is False:
            return Grant(False, f"the guardian of the owner of cameo {name} does not allow its use by others")
        if who.age_band != "teen":
            # Adults: approved by the teen by name AND allowed by the guardian.
            if who.user_id not in cameo.approved:
                return Grant(False, f"cameo {name} belongs to a teen who has not approved {who.user_id}")
            if allowed is not True:
                return Grant(False, f"cameo {name} belongs to a teen whose guardian has not allowed adults")
            return Grant(True, "approved by the teen owner and allowed by the guardian")
    audience = cameo.audience
    if cameo.owner_age_band == "teen" and audience == "everyone":
        audience = "mutuals"  # never everyone, whatever is stored
    if audience == "everyone":
        return Grant(True, "shared with everyone")
    if who.user_id in cameo.approved and audience in ("approved", "mutuals"):
        return Grant(True, "approved by the owner")
    if audience == "mutuals" and who.user_id in cameo.owner_connections:
        return Grant(True, "a mutual connection of the owner")
    kind = "protected person" if cameo.protected else "cameo"
    return Grant(False, f"{kind} {name} has not granted {who.user_id} (audience {cameo.audience})")
