"""The web UI, served by the state service: plain HTML, CSS and JS shipped in the package."""

from services.ui.routes import install_ui

__all__ = ["install_ui"]
