"""Write the API's OpenAPI document (what `/schema/openapi.json` serves) without a database.

    python clients/typescript/scripts/openapi.py [OUTPUT]   # default: standard output

The document comes from `create_app` in-process: building the app opens no connection (the
pool is opened by its lifespan, which never runs here), so no PostgreSQL is needed. Keys are
sorted and the JSON indented, so the same API always gives the same bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Run as a file, the repository root is not on the path; the app lives there.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from app.api.app import create_app  # noqa: E402
from app.settings import Settings  # noqa: E402


def openapi_document() -> dict[str, object]:
    """The OpenAPI document of an app built with default settings (they do not change it)."""
    app = create_app(Settings())
    document: dict[str, object] = app.openapi_schema.to_schema()
    return document


def main(argv: list[str]) -> None:
    text = json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"
    if len(argv) > 1:
        Path(argv[1]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
