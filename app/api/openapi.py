"""The OpenAPI document's configuration (served at /schema) and the Swagger UI that renders it."""

from __future__ import annotations

from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from swagger_ui_bundle import swagger_ui_path

DOCS_ASSETS = "/schema-assets"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="workflow-scheduler",
        version="0.1.0",
        description="Cron schedules for workflows, on PostgreSQL alone.",
        path="/schema",
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API token from `scheduler token create`.",
                )
            }
        ),
        # Swagger UI served from the swagger-ui-bundle package, not a CDN: the docs render on
        # machines without internet too.
        render_plugins=[
            SwaggerRenderPlugin(
                path="/",
                js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                standalone_preset_js_url=f"{DOCS_ASSETS}/swagger-ui-standalone-preset.js",
                favicon="<link rel='icon' type='image/svg+xml' href='/static/favicon.svg'>",
            )
        ],
    )


def docs_assets() -> ControllerRouterHandler:
    """The Swagger UI's own files, at DOCS_ASSETS."""
    return create_static_files_router(
        path=DOCS_ASSETS, directories=[swagger_ui_path], include_in_schema=False
    )
