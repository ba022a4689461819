"""A tenant's alert channels (issue 12): each public method is one transaction.

Contract:
- Everything is scoped to the service's tenant: another tenant's channel id is
  `AlertChannelNotFound` (404), never a hint that it exists.
- A `webhook` or `slack` channel has a `url` (and no `address`), an `email` channel an
  `address` (and no `url`); a `url` must pass SCHEDULER_TARGET_ALLOWLIST (checked here, and
  again by the sender at each attempt: the list may have changed since).
- A `webhook` channel gets its own signing secret at creation (`whsec_` + 32 random bytes,
  base64); only `create` returns it to the caller (the API shows it once).
- `scheduleIds` must name schedules of the tenant; None means every schedule.
- `send_test` writes one `channel.test` delivery to the outbox; the workers send it.
"""

from __future__ import annotations

import base64
import dataclasses
import secrets
from uuid import UUID

from app.clock import Clock
from app.domain.alerts import (
    CHANNEL_KINDS,
    INCIDENT_KINDS,
    SECRET_PREFIX,
    Channel,
    ChannelChanges,
    ChannelFields,
    address_problem,
)
from app.domain.target_urls import allowlist_refusal
from app.errors import AlertChannelNotFound, Conflict, ValidationFailed
from db.repositories import alert_channels as repo
from db.repositories import alert_deliveries
from db.types import Conn

MAX_CHANNELS_PER_TENANT = 100
"""Every incident event writes one delivery per matching channel: the fan-out stays bounded."""
MAX_SCHEDULE_IDS = 1_000
SECRET_BYTES = 32
_NAMED_IN_ERRORS = 3  # unknown schedule ids quoted in a 422; the rest are counted


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def validate(fields: ChannelFields, allowlist: tuple[str, ...]) -> None:
    """What a type cannot say about a channel; raises ValidationFailed (422) naming the field."""
    if fields.kind not in CHANNEL_KINDS:
        raise ValidationFailed(f"kind: must be one of {', '.join(CHANNEL_KINDS)}", field="kind")
    if fields.kind == "email":
        if fields.url is not None:
            raise ValidationFailed("url: an email channel takes an address, not a url", field="url")
        if fields.address is None:
            raise ValidationFailed("address: required for an email channel", field="address")
        problem = address_problem(fields.address)
        if problem:
            raise ValidationFailed(f"address: {problem}", field="address")
    else:
        if fields.address is not None:
            raise ValidationFailed(
                f"address: a {fields.kind} channel takes a url, not an address", field="address"
            )
        if fields.url is None:
            raise ValidationFailed(f"url: required for a {fields.kind} channel", field="url")
        refusal = allowlist_refusal(fields.url, allowlist)
        if refusal:
            raise ValidationFailed(f"url: {refusal}", field="url")
    if not fields.events:
        raise ValidationFailed(
            f"events: name at least one of {', '.join(INCIDENT_KINDS)}", field="events"
        )
    unknown = [kind for kind in fields.events if kind not in INCIDENT_KINDS]
    if unknown:
        raise ValidationFailed(
            f"events: {unknown[0]!r} is not one of {', '.join(INCIDENT_KINDS)}", field="events"
        )
    if fields.schedule_ids is not None and not fields.schedule_ids:
        raise ValidationFailed(
            "scheduleIds: empty: name at least one schedule, or leave it out for every schedule",
            field="scheduleIds",
        )
    if fields.schedule_ids is not None and len(fields.schedule_ids) > MAX_SCHEDULE_IDS:
        raise ValidationFailed(
            f"scheduleIds: {len(fields.schedule_ids)} ids is over the limit of "
            f"{MAX_SCHEDULE_IDS} (leave it out for every schedule)",
            field="scheduleIds",
        )


def normalized(fields: ChannelFields) -> ChannelFields:
    """Duplicates dropped (first occurrence kept), so stored lists are sets in order."""
    ids = fields.schedule_ids
    return dataclasses.replace(
        fields,
        events=tuple(dict.fromkeys(fields.events)),
        schedule_ids=None if ids is None else tuple(dict.fromkeys(ids)),
    )


class ChannelService:
    def __init__(
        self,
        conn: Conn,
        tenant: str,
        *,
        target_allowlist: tuple[str, ...],
        clock: Clock | None = None,
    ) -> None:
        self.conn = conn
        self.tenant = tenant
        self.allowlist = target_allowlist
        self.clock = clock

    async def create(self, fields: ChannelFields) -> Channel:
        """The new channel, with its secret when it is a webhook channel."""
        fields = normalized(fields)
        validate(fields, self.allowlist)
        secret = new_webhook_secret() if fields.kind == "webhook" else None
        async with self.conn.transaction():
            await self._check_schedules(fields)
            if await repo.count(self.conn, self.tenant) >= MAX_CHANNELS_PER_TENANT:
                raise Conflict(
                    f"a tenant has at most {MAX_CHANNELS_PER_TENANT} alert channels: delete "
                    "one first, or subscribe an existing one to more events"
                )
            return await repo.insert(self.conn, self.tenant, fields, secret)

    async def list(self) -> list[Channel]:
        return await repo.list_all(self.conn, self.tenant)

    async def get(self, channel_id: UUID) -> Channel:
        found = await repo.get(self.conn, self.tenant, channel_id)
        if found is None:
            raise AlertChannelNotFound()
        return found

    async def update(self, channel_id: UUID, changes: ChannelChanges) -> Channel:
        """Apply `changes` (only the fields sent)."""
        async with self.conn.transaction():
            current = await repo.get(self.conn, self.tenant, channel_id, lock=True)
            if current is None:
                raise AlertChannelNotFound()
            fields = normalized(dataclasses.replace(current.fields, **changes))
            validate(fields, self.allowlist)
            await self._check_schedules(fields)
            updated = await repo.update(self.conn, self.tenant, channel_id, fields)
            assert updated is not None  # locked above
            return updated

    async def delete(self, channel_id: UUID) -> None:
        async with self.conn.transaction():
            if not await repo.delete(self.conn, self.tenant, channel_id):
                raise AlertChannelNotFound()

    async def send_test(self, channel_id: UUID) -> UUID:
        """Queue a `channel.test` delivery to the channel; returns the delivery's id."""
        async with self.conn.transaction():
            channel = await repo.get(self.conn, self.tenant, channel_id)
            if channel is None:
                raise AlertChannelNotFound()
            payload = {
                "type": "channel.test",
                "tenant": self.tenant,
                "channel": {
                    "id": str(channel.id),
                    "name": channel.fields.name,
                    "kind": channel.fields.kind,
                },
            }
            now = self.clock() if self.clock else None
            return await alert_deliveries.insert_test(
                self.conn, self.tenant, channel.id, payload, now
            )

    async def _check_schedules(self, fields: ChannelFields) -> None:
        if not fields.schedule_ids:
            return
        unknown = await repo.unknown_schedules(self.conn, self.tenant, fields.schedule_ids)
        if unknown:
            named = ", ".join(str(i) for i in unknown[:_NAMED_IN_ERRORS])
            more = len(unknown) - _NAMED_IN_ERRORS
            tail = f" and {more} more" if more > 0 else ""
            raise ValidationFailed(
                f"scheduleIds: no schedule of yours has the id {named}{tail}",
                field="scheduleIds",
            )
