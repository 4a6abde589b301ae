"""An offline /docs page for a Quart app's /openapi.json (quart-schema's viewers need a CDN)."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart_schema import hide


def docs_blueprint(title: str, intro: str, back_link: tuple[str, str] | None = None) -> Blueprint:
    """A blueprint serving GET /docs: one card per endpoint, rendered from /openapi.json.

    `intro` is plain text under the title; `back_link` is an optional (href, label) footer link.
    """
    blueprint = Blueprint(
        "openapi_docs",
        __name__,
        static_folder="static",
        static_url_path="/docs/static",
        template_folder="templates",
    )

    @blueprint.get("/docs")
    @hide
    async def docs() -> str:
        """The API reference, readable without any network access."""
        return await render_template(
            "openapi_docs.html", title=title, intro=intro, back_link=back_link
        )

    return blueprint
