"""Bad input gets a clear 4xx naming the field and the reason."""

from __future__ import annotations

import httpx
import pytest

GOOD = {"workflowId": "wf", "cronExpression": "*/5 * * * *"}


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"cronExpression": "60 * * * *"}, "cronExpression", "minute: 60 is out of range 0-59"),
        ({"cronExpression": "0 0 30 2 *"}, "cronExpression", "never fires"),
        ({"cronExpression": "* * *"}, "cronExpression", "fields"),
        ({"cronExpression": "x" * 201}, "cronExpression", "200"),
        ({"timezone": "America/Chicgo"}, "timezone", "America/Chicago"),
        ({"timezone": "UTC+5"}, "timezone", "UTC+5"),
        ({"workflowId": ""}, "workflowId", ""),
        ({"workflowId": "w" * 201}, "workflowId", "200"),
        ({"maxAttempts": 0}, "maxAttempts", ""),
        ({"overlapPolicy": "sometimes"}, "overlapPolicy", ""),
        ({"cronExpresion": "* * * * *"}, "cronExpresion", "Extra inputs are not permitted"),
        ({"startAt": "2030-01-01T00:00:00"}, "startAt", "timezone"),
        ({"targetUrl": "http://169.254.169.254/latest"}, "targetUrl", "not allowed"),
        ({"input": {"big": "x" * 70_000}}, "input", "64 KiB"),
        ({"pauseNote": "n" * 501}, "pauseNote", "500"),
    ],
)
def test_create_rejects_with_field_and_reason(
    client: httpx.Client, change: dict[str, object], field: str, fragment: str
) -> None:
    answer = client.post("/api/schedules", json={**GOOD, **change})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "validation_failed"
    assert field in body["message"], body
    assert fragment in body["message"], body
    assert any(e["field"] == field for e in body["errors"]), body
    assert "Traceback" not in answer.text


def test_missing_required_fields(client: httpx.Client) -> None:
    answer = client.post("/api/schedules", json={})
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"workflowId", "cronExpression"} <= fields


def test_patch_null_of_required_field(client: httpx.Client) -> None:
    sid = client.post("/api/schedules", json=GOOD).json()["id"]
    answer = client.patch(f"/api/schedules/{sid}", json={"cronExpression": None})
    assert answer.status_code == 422
    assert "cronExpression" in answer.json()["message"]
    bad_match = client.patch(f"/api/schedules/{sid}", json={}, headers={"If-Match": "abc"})
    assert bad_match.status_code == 422 and "If-Match" in bad_match.json()["message"]


def test_authentication(anonymous: httpx.Client, client: httpx.Client) -> None:
    missing = anonymous.get("/api/schedules")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in missing.json()["message"]
    wrong = anonymous.get("/api/schedules", headers={"Authorization": "Bearer wfs_nope"})
    assert wrong.status_code == 401
    forged = client.headers["authorization"][:-4] + "AAAA"
    assert anonymous.get("/api/schedules", headers={"Authorization": forged}).status_code == 401
    assert anonymous.get("/health").status_code == 200
    assert (
        anonymous.post("/api/schedules/preview", json={"cronExpression": "* * * * *"}).status_code
        == 401
    )


def test_body_limits_and_garbage(client: httpx.Client) -> None:
    huge = client.post(
        "/api/schedules",
        content=b'{"workflowId": "' + b"x" * (1024 * 1024 + 10) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    garbage = client.post(
        "/api/schedules", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert 400 <= garbage.status_code < 500
    assert "Traceback" not in garbage.text
    wrong_type = client.post(
        "/api/schedules", content=b"workflowId=x", headers={"Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415 and "application/json" in wrong_type.json()["message"]
    not_uuid = client.get("/api/schedules/not-a-uuid")
    assert 400 <= not_uuid.status_code < 500


def test_openapi_is_served(anonymous: httpx.Client) -> None:
    schema = anonymous.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/schedules" in paths and "/api/schedules/preview" in paths
    assert "/api/scheduler/register" in paths
    props = schema.json()["components"]["schemas"]["ScheduleCreate"]["properties"]
    assert "cronExpression" in props
    # The browsable docs load nothing from the internet.
    page = anonymous.get("/schema")
    assert page.status_code == 200 and "swagger" in page.text.lower()
    assert "https://" not in page.text
    assert anonymous.get("/schema-assets/swagger-ui-bundle.js").status_code == 200
