"""Alert channels (issue 12): where a tenant's incidents are announced."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from app.api.alert_schemas import (
    ChannelCreate,
    ChannelCreated,
    ChannelList,
    ChannelOut,
    ChannelPatch,
    TestQueued,
)
from app.api.deps import DbConn, Tenant
from app.api.errors import error_responses
from app.api.state import clock_of, settings_of
from app.domain.alerts import ChannelFields
from app.services.alert_channels import ChannelService

Channels = NamedDependency[ChannelService]


async def provide_channels(state: State, conn: DbConn, tenant: Tenant) -> ChannelService:
    return ChannelService(
        conn, tenant, target_allowlist=settings_of(state).target_allowlist, clock=clock_of(state)
    )


class AlertChannelController(Controller):
    path = "/api/alert-channels"
    tags = ["alerts"]
    dependencies = {"channels": provide_channels}

    @post(
        "/",
        summary="Create an alert channel (a webhook channel's secret is shown once)",
        responses=error_responses(409),  # the limit on channels per tenant
    )
    async def create(self, data: JSONBody[ChannelCreate], channels: Channels) -> ChannelCreated:
        created = await channels.create(
            ChannelFields(
                name=data.name,
                kind=data.kind,
                url=data.url,
                address=data.address,
                events=tuple(data.events),
                schedule_ids=None if data.schedule_ids is None else tuple(data.schedule_ids),
            )
        )
        return ChannelCreated.with_secret(created)

    @get("/", summary="List your alert channels", responses=error_responses())
    async def list_channels(self, channels: Channels) -> ChannelList:
        return ChannelList(items=[ChannelOut.of(c) for c in await channels.list()])

    @get("/{channel_id:uuid}", summary="Get an alert channel", responses=error_responses(404))
    async def get_channel(self, channel_id: FromPath[UUID], channels: Channels) -> ChannelOut:
        return ChannelOut.of(await channels.get(channel_id))

    @patch("/{channel_id:uuid}", summary="Change an alert channel", responses=error_responses(404))
    async def update(
        self, channel_id: FromPath[UUID], data: JSONBody[ChannelPatch], channels: Channels
    ) -> ChannelOut:
        return ChannelOut.of(await channels.update(channel_id, data.to_domain()))

    @delete(
        "/{channel_id:uuid}",
        summary="Delete an alert channel",
        status_code=HTTP_204_NO_CONTENT,
        responses=error_responses(404),
    )
    async def delete_channel(self, channel_id: FromPath[UUID], channels: Channels) -> None:
        await channels.delete(channel_id)

    @post(
        "/{channel_id:uuid}/test",
        summary="Send a test alert (channel.test) through the outbox",
        status_code=HTTP_202_ACCEPTED,
        responses=error_responses(404),
    )
    async def send_test(self, channel_id: FromPath[UUID], channels: Channels) -> TestQueued:
        return TestQueued(delivery_id=await channels.send_test(channel_id))
