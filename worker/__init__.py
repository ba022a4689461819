"""Worker processes (`python -m worker`, see worker/__main__.py). `--app=worker.app` resolves
`worker.app` through the lazy attribute below to the Procrastinate App, so importing other
worker modules (in tests, say) does not build the App or read the environment."""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from worker.app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")
