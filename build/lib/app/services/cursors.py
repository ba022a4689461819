"""Opaque keyset cursors: (an instant, an id) → url-safe text, and back."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID

from app.errors import ValidationFailed


def encode_cursor(instant: datetime, item_id: UUID) -> str:
    raw = json.dumps([instant.isoformat(), str(item_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raises ValidationFailed (422, field `cursor`) for anything this API did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        instant, item_id = json.loads(raw)
        parsed = datetime.fromisoformat(instant)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, UUID(item_id)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed(
            "cursor: not a cursor this API returned; start again without one", field="cursor"
        ) from None
