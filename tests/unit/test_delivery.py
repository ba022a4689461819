"""The pure delivery rules: the request of an attempt, signatures, outcomes, retry delays."""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import re
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.instants import format_instant
from app.domain.outcome import (
    MAX_ERROR_BYTES,
    Outcome,
    PermanentDeliveryError,
    classify_exception,
    classify_response,
    parse_retry_after,
)
from app.domain.retry import backoff_seconds, retry_delay_seconds
from app.domain.webhook import (
    InvalidSigningKey,
    build_delivery,
    idempotency_key,
    sign,
    target_url_for,
    verify_signature,
)
from app.errors import ConfigError
from app.settings import DEFAULT_TARGET_URL, load_settings

EXECUTION = UUID("11111111-2222-3333-4444-555555555555")
TRIGGER = UUID("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
SLOT = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 3, 8, 8, 0, 5, tzinfo=UTC)
TS = 1_772_956_805
SECRET = "s3cret-value"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def delivery(attempt: int = 1, secret: str = SECRET, timestamp: int = TS, **kw: object):
    args: dict[str, object] = {
        "execution_id": EXECUTION,
        "trigger_id": TRIGGER,
        "workflow_id": "wf-1",
        "scheduled_at": SLOT,
        "attempt": attempt,
        "trigger": "schedule",
        "input": {"a": 1, "name": "Zoë"},
        "url": "http://t/api/workflows/wf-1/execute",
        "secret": secret,
        "timestamp": timestamp,
    }
    args.update(kw)
    return build_delivery(**args)  # type: ignore[arg-type]


def reference_signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


# --- the request ---------------------------------------------------------------------------------


def test_headers_are_exact():
    d = delivery(attempt=2)
    assert d.url == "http://t/api/workflows/wf-1/execute"
    assert d.headers == {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {SECRET}",
        "webhook-id": str(EXECUTION),
        "webhook-timestamp": str(TS),
        "webhook-signature": reference_signature(SECRET.encode(), str(EXECUTION), TS, d.body),
        "Idempotency-Key": f"{TRIGGER}:2026-03-08T08:00:00Z",
        "X-Scheduler-Attempt": "2",
        "X-Scheduler-Scheduled-At": "2026-03-08T08:00:00Z",
        "traceparent": "00-11111111222233334444555555555555-1160615889252350-01",
    }


def test_body_is_compact_json_with_the_spec_fields_in_order():
    d = delivery(attempt=3)
    assert (
        d.body
        == (
            '{"executionId":"11111111-2222-3333-4444-555555555555",'
            '"triggerId":"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee","workflowId":"wf-1",'
            '"scheduledAt":"2026-03-08T08:00:00Z","attempt":3,"trigger":"schedule",'
            '"input":{"a":1,"name":"Zoë"}}'
        ).encode()
    )


def test_without_a_secret_nothing_is_signed_and_no_authorization_is_sent():
    d = delivery(secret="")
    assert "Authorization" not in d.headers
    assert "webhook-signature" not in d.headers
    assert d.headers["webhook-id"] == str(EXECUTION)
    assert d.headers["webhook-timestamp"] == str(TS)


TENANT_KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()
OLD_TENANT_KEY = "whsec_" + base64.b64encode(b"o" * 32).decode()


def test_an_own_target_is_signed_with_the_tenant_key_and_gets_no_deployment_secret():
    """H5: before, every delivery carried `Authorization: Bearer <deployment secret>` and a
    signature made with it, also to a tenant's own targetUrl."""
    d = delivery(tenant_keys=[TENANT_KEY])
    assert "Authorization" not in d.headers
    assert SECRET not in repr(d.headers)
    assert verify_signature(TENANT_KEY, d.headers, d.body, now=TS)
    assert not verify_signature(SECRET, d.headers, d.body, now=TS)


def test_during_a_rotation_both_tenant_keys_sign():
    d = delivery(tenant_keys=[TENANT_KEY, OLD_TENANT_KEY])
    signatures = d.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert verify_signature(TENANT_KEY, d.headers, d.body, now=TS)
    assert verify_signature(OLD_TENANT_KEY, d.headers, d.body, now=TS)


def test_an_own_target_without_a_tenant_key_is_not_signed_with_the_deployment_secret():
    d = delivery(tenant_keys=[])
    assert "Authorization" not in d.headers and "webhook-signature" not in d.headers


def test_idempotency_key_is_identical_across_attempts_and_timestamps():
    keys = {delivery(attempt=n, timestamp=TS + n).headers["Idempotency-Key"] for n in (1, 2, 3)}
    assert keys == {idempotency_key(TRIGGER, SLOT)}
    # the same instant given in another zone is the same slot
    paris = SLOT.astimezone(timezone(timedelta(hours=1)))
    assert idempotency_key(TRIGGER, paris) == f"{TRIGGER}:2026-03-08T08:00:00Z"


def test_attempt_numbers_start_at_one():
    with pytest.raises(ValueError, match="start at 1"):
        delivery(attempt=0)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 3, 8, 8, 0, tzinfo=UTC), "2026-03-08T08:00:00Z"),
        (datetime(2026, 3, 8, 8, 0, 0, 250_000, tzinfo=UTC), "2026-03-08T08:00:00.250Z"),
        (datetime(2026, 3, 8, 8, 0, 0, 1_500, tzinfo=UTC), "2026-03-08T08:00:00.001Z"),
        (
            datetime(2026, 3, 8, 9, 30, tzinfo=timezone(timedelta(hours=1, minutes=30))),
            "2026-03-08T08:00:00Z",
        ),
    ],
)
def test_format_instant(value: datetime, text: str):
    assert format_instant(value) == text


def test_format_instant_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware"):
        format_instant(datetime(2026, 3, 8, 8, 0))


@pytest.mark.parametrize(
    ("workflow_id", "expected"),
    [
        ("wf-1", "http://localhost:3000/api/workflows/wf-1/execute"),
        ("a/b", "http://localhost:3000/api/workflows/a%2Fb/execute"),
        ("x y?z#w", "http://localhost:3000/api/workflows/x%20y%3Fz%23w/execute"),
        ("../admin", "http://localhost:3000/api/workflows/..%2Fadmin/execute"),
        ("é", "http://localhost:3000/api/workflows/%C3%A9/execute"),
    ],
)
def test_target_url_for_quotes_the_id_as_one_path_segment(workflow_id: str, expected: str):
    assert target_url_for(workflow_id, None, DEFAULT_TARGET_URL) == expected


def test_a_schedule_target_url_wins_over_the_template():
    assert target_url_for("wf", "https://x.test/hook", DEFAULT_TARGET_URL) == "https://x.test/hook"
    assert target_url_for("wf", "", "https://y.test/{workflowId}") == "https://y.test/wf"


# --- signatures ----------------------------------------------------------------------------------


def test_the_standard_webhooks_reference_vector():
    # Published with the Standard Webhooks reference libraries.
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_plain_secret_is_keyed_with_its_utf8_bytes():
    assert sign("clé", "id", 7, b"{}") == reference_signature("clé".encode(), "id", 7, b"{}")


def test_a_whsec_secret_is_keyed_with_its_base64_decoded_rest():
    raw = bytes(range(32))
    secret = "whsec_" + base64.b64encode(raw).decode()
    d = delivery(secret=secret)
    assert d.headers["webhook-signature"] == reference_signature(raw, str(EXECUTION), TS, d.body)
    assert verify_signature(secret, d.headers, d.body, now=TS)


def test_a_malformed_whsec_secret_is_a_config_error_that_names_no_variable():
    with pytest.raises(InvalidSigningKey, match="whsec_") as raised:
        sign("whsec_not*base64", "id", 1, b"")
    assert isinstance(raised.value, ConfigError)
    assert raised.value.field is None  # the domain knows no environment variable
    assert "INTERNAL_API_SECRET" not in raised.value.message


def test_the_settings_name_the_variable_of_a_malformed_whsec_secret():
    with pytest.raises(ConfigError, match="INTERNAL_API_SECRET.*whsec_"):
        load_settings(internal_api_secret="whsec_not*base64")


def test_verify_accepts_what_build_delivery_signs():
    d = delivery()
    assert verify_signature(SECRET, d.headers, d.body, now=TS)


def test_verify_ignores_header_name_case():
    d = delivery()
    upper = {name.upper(): value for name, value in d.headers.items()}
    assert verify_signature(SECRET, upper, d.body, now=TS)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: (h, b.replace(b'"attempt":1', b'"attempt":2')),
        lambda h, b: ({**h, "webhook-id": "other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(TS + 1)}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({**h, "webhook-signature": h["webhook-signature"].replace("v1", "v2")}, b),
        lambda h, b: ({**h, "webhook-signature": h["webhook-signature"][3:]}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,ü"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "+" + h["webhook-timestamp"]}, b),
        lambda h, b: ({**h, "webhook-timestamp": "9" * 5000}, b),
        lambda h, b: ({**h, "webhook-timestamp": "١٢٣"}, b),
    ],
)
def test_verify_rejects_tampering(tamper):
    d = delivery()
    headers, body = tamper(dict(d.headers), d.body)
    assert not verify_signature(SECRET, headers, body, now=TS)


def test_verify_rejects_the_wrong_secret_and_an_empty_one():
    d = delivery()
    assert not verify_signature("other-secret", d.headers, d.body, now=TS)
    assert not verify_signature("", d.headers, d.body, now=TS)


@pytest.mark.parametrize(
    ("skew", "ok"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)]
)
def test_verify_rejects_stale_and_future_timestamps(skew: int, ok: bool):
    d = delivery()
    assert verify_signature(SECRET, d.headers, d.body, now=TS + skew) is ok


def test_verify_accepts_any_of_several_signatures():
    d = delivery()
    rotated = {**d.headers, "webhook-signature": f"v1,bm9wZQ== {d.headers['webhook-signature']}"}
    assert verify_signature(SECRET, rotated, d.body, now=TS)


def _doc_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    matching = [block for block in blocks if "def verify_signature(" in block]
    assert len(matching) == 1, "docs/webhooks.md must hold one verify_signature snippet"
    return matching[0]


def test_the_documented_verifier_is_the_code_we_test():
    source = textwrap.dedent(inspect.getsource(verify_signature))
    assert source in _doc_snippet()


def test_the_documented_snippet_runs_on_its_own():
    namespace: dict[str, object] = {}
    exec(_doc_snippet(), namespace)  # our own documentation: the snippet must run as published
    verify = namespace["verify_signature"]
    d = delivery()
    assert verify(SECRET, d.headers, d.body, now=TS)  # type: ignore[operator]
    assert not verify(SECRET, d.headers, d.body + b"x", now=TS)  # type: ignore[operator]


# --- outcomes ------------------------------------------------------------------------------------


def classify(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Outcome:
    return classify_response(status, headers or {}, body, 12, NOW)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_succeeds(status: int):
    outcome = classify(status)
    assert outcome == Outcome("succeeded", status, None, None, None, 12)


def test_202_is_accepted_and_keeps_the_run_id():
    """A 202 starts a workflow that reports later (issue 11): the run awaits its result."""
    outcome = classify_response(202, {}, b'{"runId": "wf-7"}', 12, NOW)
    assert outcome == Outcome("accepted", 202, None, "wf-7", None, 12)


@pytest.mark.parametrize(
    ("body", "run_id"),
    [
        (b'{"runId": "r-1"}', "r-1"),
        (b'{"id": "i-1"}', "i-1"),
        (b'{"runId": "r-1", "id": "i-1"}', "r-1"),
        (b'{"id": 42}', "42"),
        (b'{"runId": null, "id": 7}', "7"),
        (b'{"runId": true}', None),
        (b'{"runId": 1.5}', None),
        (b'{"runId": ""}', None),
        (b'{"runId": {"x": 1}}', None),
        (b'{"runId": "' + b"x" * 300 + b'"}', None),
        (b'[{"runId": "r"}]', None),
        (b'"r-1"', None),
        (b"ok", None),
        (b"", None),
        (b"\xff\xfe", None),
        (b"[" * 100_000, None),
    ],
)
def test_the_run_id_of_a_json_object_answer(body: bytes, run_id: str | None):
    assert classify(200, body).workflow_run_id == run_id


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int):
    outcome = classify(status, b"busy")
    assert (outcome.kind, outcome.http_status, outcome.error) == (
        "retry",
        status,
        f"HTTP {status}: busy",
    )
    assert outcome.workflow_run_id is None


@pytest.mark.parametrize("status", [100, 400, 401, 403, 404, 409, 410, 422, 451, 600])
def test_other_statuses_fail_at_once(status: int):
    outcome = classify(status, b'{"error": "nope"}', {"Retry-After": "5"})
    assert outcome.kind == "failed"
    assert outcome.error == f'HTTP {status}: {{"error": "nope"}}'
    assert outcome.retry_after_seconds is None


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(status: int):
    outcome = classify(status, b"moved", {"Location": "https://elsewhere.test/x"})
    assert outcome.kind == "failed"
    assert outcome.error == (
        f"HTTP {status}: redirects are not followed (Location: https://elsewhere.test/x)"
    )


def test_an_empty_error_answer_says_so():
    assert classify(500).error == "HTTP 500: (empty answer)"


def test_error_text_keeps_the_first_2_kib_of_the_answer():
    outcome = classify(500, b"a" * 5000)
    assert outcome.error == "HTTP 500: " + "a" * MAX_ERROR_BYTES


def test_error_text_never_ends_in_half_a_character():
    body = "x" + "é" * 2000  # 1 + 4000 bytes: the cut at 2048 falls inside an "é"
    error = classify(503, body.encode()).error
    assert error == "HTTP 503: x" + "é" * 1023
    assert "\ufffd" not in error


def test_undecodable_answers_are_kept_readable():
    assert classify(500, b"bad \xff byte").error == "HTTP 500: bad \ufffd byte"


# --- exceptions ----------------------------------------------------------------------------------


class ReadTimeout(Exception):
    """Timed out while receiving data from the host."""


class ConnectError(Exception):
    pass


class UnsupportedProtocol(PermanentDeliveryError):
    pass


class InvalidURL(Exception):
    """Named like an unsendable request, but not one: names decide nothing."""


def test_exceptions_are_retried_with_type_and_message():
    outcome = classify_exception(ConnectError("[Errno 111] Connection refused"), 3)
    assert outcome == Outcome(
        "retry", None, "ConnectError: [Errno 111] Connection refused", None, None, 3
    )


def test_an_exception_without_a_message_is_described_by_its_docstring():
    assert classify_exception(ReadTimeout(""), 1).error == (
        "ReadTimeout: Timed out while receiving data from the host."
    )
    assert classify_exception(TimeoutError(), 1).error == "TimeoutError: Timeout expired."


def test_an_unsendable_request_fails_at_once():
    assert classify_exception(UnsupportedProtocol("ftp://"), 1).kind == "failed"


def test_only_permanent_delivery_errors_fail_at_once_whatever_their_name():
    assert classify_exception(InvalidURL("http:///x"), 1).kind == "retry"


def test_exception_text_is_truncated_to_2_kib():
    error = classify_exception(ConnectError("é" * 5000), 1).error
    assert error is not None
    assert len(error.encode()) <= MAX_ERROR_BYTES
    assert error.startswith("ConnectError: éé")


# --- Retry-After ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("3600", 3600.0),
        ("3601", 3600.0),
        ("99999999999999999999", 3600.0),
        ("Sun, 08 Mar 2026 08:01:05 GMT", 60.0),
        ("Sun, 08 Mar 2026 07:00:00 GMT", 0.0),  # already past: at once
        ("Mon, 09 Mar 2026 08:00:00 GMT", 3600.0),
        ("-5", None),
        ("soon", None),
        ("", None),
        ("NaN", None),
        ("inf", None),
        ("1e3", None),
        ("Sun, 99 Foo 2026 99:99:99 GMT", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None):
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_is_read_from_retryable_answers_whatever_the_header_case():
    assert classify(503, headers={"retry-after": "7"}).retry_after_seconds == 7.0
    assert classify(429, headers={"Retry-After": "bogus"}).retry_after_seconds is None
    assert classify(200, headers={"Retry-After": "7"}).retry_after_seconds is None


# --- backoff -------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base():
    assert [backoff_seconds(n, 10, 0.5) for n in (1, 2, 3, 4)] == [10.0, 20.0, 40.0, 80.0]


def test_backoff_is_capped_at_an_hour_even_for_absurd_attempts():
    assert backoff_seconds(30, 10, 0.5) == 3600.0
    assert backoff_seconds(10_000, 10, 0.999) == 3600.0
    assert backoff_seconds(10_000, 10, 0.0) == pytest.approx(2880.0)


@given(
    attempt=st.integers(1, 40),
    base=st.floats(0, 10_000, allow_nan=False),
    unit=st.floats(0, 1, exclude_max=True),
)
def test_backoff_jitter_stays_within_20_percent_and_the_cap(attempt: int, base: float, unit: float):
    raw = min(base * 2 ** (attempt - 1), 3600.0)
    delay = backoff_seconds(attempt, base, unit)
    assert raw * 0.8 - 1e-9 <= delay <= min(raw * 1.2, 3600.0) + 1e-9
    assert 0 <= delay <= 3600.0


@pytest.mark.parametrize(
    ("attempt", "base", "unit"), [(0, 10, 0.5), (1, -1, 0.5), (1, float("nan"), 0.5), (1, 10, 1.0)]
)
def test_backoff_refuses_nonsense(attempt: int, base: float, unit: float):
    with pytest.raises(ValueError):
        backoff_seconds(attempt, base, unit)


def test_retry_delay_prefers_retry_after_and_caps_it():
    busy = Outcome("retry", 503, "HTTP 503: busy", None, 42.0, 1)
    assert retry_delay_seconds(busy, 1, 10, 0.5) == 42.0
    huge = Outcome("retry", 503, "HTTP 503: busy", None, 10_000.0, 1)
    assert retry_delay_seconds(huge, 1, 10, 0.5) == 3600.0
    plain = Outcome("retry", None, "ConnectError: refused", None, None, 1)
    assert retry_delay_seconds(plain, 3, 10, 0.5) == 40.0


def test_the_callback_url_is_in_the_signed_body_and_the_token_in_a_header():
    d = delivery(callback_url="https://s/api/executions/x/result", callback_token="wfcb_abc")
    assert json.loads(d.body)["callbackUrl"] == "https://s/api/executions/x/result"
    assert d.headers["X-Scheduler-Callback-Token"] == "wfcb_abc"
    assert verify_signature(SECRET, d.headers, d.body, now=TS)
    plain = delivery()
    assert "callbackUrl" not in json.loads(plain.body)
    assert "X-Scheduler-Callback-Token" not in plain.headers


def test_a_default_target_url_with_credentials_is_refused_at_start_up():
    with pytest.raises(ConfigError, match="SCHEDULER_TARGET_URL: .*credentials"):
        load_settings(scheduler_target_url="https://u:p@target.test/api/{workflowId}")
    assert load_settings(scheduler_target_url="https://target.test/a@b").scheduler_target_url
