"""How a workflow reports how it ended (issue 11, docs/webhooks.md). Pure: no I/O, no clock.

Contract:
- Every delivery carries `callbackUrl` (the run's `POST /api/executions/{id}/result`) and the
  header `X-Scheduler-Callback-Token`: a secret for that one execution. The token is an HMAC of
  the execution id under the deployment's callback key (table `scheduler_keys`, made by
  migration 0008), so nothing per run is stored, in clear or otherwise, and a token proves
  nothing about any other execution. Every attempt of a run carries the same token.
- A report is `{"status": "succeeded" | "failed", "error"?, "output"?, "retryable"?}`;
  `Report` is its validated form, and `same_report` is what makes a repeated report idempotent.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

TOKEN_PREFIX = "wfcb_"  # noqa: S105 - a prefix, not a secret
"""Callback tokens start with this, API tokens never do: the API knows which check to make."""
CALLBACK_TOKEN_HEADER = "X-Scheduler-Callback-Token"  # noqa: S105 - a header name
MAX_REPORT_ERROR_BYTES = 2048
MAX_OUTPUT_BYTES = 16 * 1024
DEFAULT_COMPLETION_TIMEOUT_SECONDS = 3600
MAX_COMPLETION_TIMEOUT_SECONDS = 7 * 86_400

ReportStatus = Literal["succeeded", "failed"]


def callback_token(key: str, execution_id: UUID) -> str:
    """The callback token of one execution: `wfcb_` + base64url(HMAC-SHA256(key, id))."""
    digest = hmac.digest(key.encode(), b"callback:" + execution_id.bytes, "sha256")
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def callback_token_valid(key: str, execution_id: UUID, token: str) -> bool:
    """Whether `token` is the callback token of `execution_id`. Constant time in the token's
    content, so a near miss tells an attacker nothing a far one does not."""
    return hmac.compare_digest(callback_token(key, execution_id).encode(), token.encode())


def result_url(public_url: str, execution_id: UUID) -> str:
    """The absolute `callbackUrl` of an execution under the API's public address."""
    return f"{public_url.rstrip('/')}/api/executions/{execution_id}/result"


@dataclass(frozen=True, slots=True)
class Report:
    """A workflow's report, validated (sizes are the API's to check, with field names)."""

    status: ReportStatus
    error: str | None = None
    output: dict[str, Any] | None = None
    retryable: bool = False


def same_report(a: Report, b: Report) -> bool:
    """Whether a report repeats one already recorded: the same outcome, error and output.
    A client that resends after a lost answer sends exactly this; anything else is a
    different report about the same attempt, refused with 409."""
    return (a.status, a.error, a.output, a.retryable) == (b.status, b.error, b.output, b.retryable)
