"""The JSON shapes of /api/alert-channels (issue 12), camelCase like the rest of the API."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

from app.api.schemas import CamelModel, CamelOut, Instant, _no_nul, sent_fields
from app.domain.alerts import Channel, ChannelChanges, ChannelKind, shown_url
from app.domain.incidents import Kind as IncidentKind

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Url = Annotated[str, StringConstraints(max_length=2_000), AfterValidator(_no_nul)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
Events = Annotated[list[IncidentKind], Field(min_length=1, max_length=20)]
ScheduleIds = Annotated[list[UUID], Field(max_length=1_000)]


class ChannelCreate(CamelModel):
    """A `webhook` or `slack` channel takes `url`, an `email` channel `address`."""

    name: Name
    kind: ChannelKind
    url: Url | None = None
    address: Address | None = None
    events: Events
    schedule_ids: ScheduleIds | None = None


class ChannelPatch(CamelModel):
    """Any subset; `scheduleIds: null` subscribes the channel to every schedule again. The
    kind cannot change (create another channel)."""

    name: Name | None = None
    url: Url | None = None
    address: Address | None = None
    events: Events | None = None
    schedule_ids: ScheduleIds | None = None

    NOT_NULL: ClassVar[tuple[str, ...]] = ("name", "events")
    """A PATCH may leave them out, not clear them."""

    def to_domain(self) -> ChannelChanges:
        """The fields sent, and only those, as the domain types them (tuples, not lists)."""
        sent = sent_fields(self, self.NOT_NULL)
        changes = ChannelChanges()
        if "name" in sent:
            changes["name"] = sent["name"]
        if "url" in sent:
            changes["url"] = sent["url"]
        if "address" in sent:
            changes["address"] = sent["address"]
        if "events" in sent:
            changes["events"] = tuple(sent["events"])
        if "schedule_ids" in sent:
            ids = sent["schedule_ids"]
            changes["schedule_ids"] = None if ids is None else tuple(ids)
        return changes


class ChannelOut(CamelOut):
    id: UUID
    name: str
    kind: ChannelKind
    url: str | None = Field(
        description="A Slack URL (its own credential) is shown with its token replaced by …"
    )
    address: str | None
    events: list[IncidentKind]
    schedule_ids: list[UUID] | None
    created_at: Instant
    updated_at: Instant

    @classmethod
    def fields_of(cls, channel: Channel) -> dict[str, Any]:
        fields = channel.fields
        return dict(
            id=channel.id,
            name=fields.name,
            kind=fields.kind,
            url=shown_url(fields.kind, fields.url),
            address=fields.address,
            events=list(fields.events),
            schedule_ids=None if fields.schedule_ids is None else list(fields.schedule_ids),
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )

    @classmethod
    def of(cls, channel: Channel) -> ChannelOut:
        return cls(**cls.fields_of(channel))


class ChannelCreated(ChannelOut):
    secret: str | None = Field(
        description="A webhook channel's signing key (whsec_…): shown here once, never again"
    )

    @classmethod
    def with_secret(cls, channel: Channel) -> ChannelCreated:
        return cls(**cls.fields_of(channel), secret=channel.secret)


class ChannelList(CamelOut):
    items: list[ChannelOut]


class TestQueued(CamelOut):
    delivery_id: UUID = Field(description="The delivery's id: its webhook-id header")
