"""Every dashboard page that shows a tenant's data redirects to /login without a valid session
(one guard, app/api/dashboard/pages.py `to_login`), and shows the page with one."""

from __future__ import annotations

import httpx

from tests.security.conftest import security_settings
from tests.support.db import create_schedule
from tests.support.server import make_token, running_api

PAGES = ["/", "/incidents", "/schedules/new", "/schedules/{id}", "/schedules/{id}/edit"]


def _get(url: str, path: str, cookies: dict[str, str]) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=10, cookies=cookies) as http:
        return http.get(path)


def test_pages_need_a_session(database_url: str) -> None:
    token = make_token(database_url, "acme")
    schedule = create_schedule(database_url, workflow_id="guarded", cron_expression="@daily")
    paths = [page.format(id=schedule.id) for page in PAGES]
    with running_api(security_settings(database_url)) as url:
        for cookies in ({}, {"wfs_session": "wfs_not-a-real-token"}, {"wfs_session": "x" * 600}):
            for path in paths:
                answer = _get(url, path, cookies)
                assert answer.status_code == 303, (path, cookies, answer.status_code)
                assert answer.headers["location"] == "/login", path
        for path in paths:
            answer = _get(url, path, {"wfs_session": token})
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
        login = _get(url, "/login", {"wfs_session": token})
        assert login.status_code == 303 and login.headers["location"] == "/"
