"""``GET /docs``: Swagger UI on ``/openapi.json``, every file served by the gateway itself.

The JavaScript and CSS come from the pinned PyPI package swagger-ui-bundle (see
requirements.txt), never from a CDN: the page works offline and shows exactly the
Swagger UI version the requirements name. Only the files in ``ASSETS`` are served,
by name (the route's converter takes no "/" either), so no request path can reach any
other file.
"""
import base64
import functools
import hashlib
import json
from pathlib import Path

from swagger_ui_bundle import swagger_ui_path
from werkzeug.wrappers import Response

from common.errors import RouteNotFound

# The Swagger UI files the page uses, with their content types.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
ASSET_DIR = Path(str(swagger_ui_path))
# The package's files change only with its pin; browsers may keep them a day.
ASSET_CACHE_CONTROL = "public, max-age=86400"

# Relative URLs: the page works wherever the gateway is mounted.
_INIT_SCRIPT = """
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: %s,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null
  });
};
""" % json.dumps("openapi.json")

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Sales Management System API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script>%s</script>
</body>
</html>
""" % _INIT_SCRIPT

# The page may load only what the gateway serves: no CDN, no outside validator.
# Swagger UI sets inline styles and renders some images as data: URLs.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self' 'sha256-%s'" % base64.b64encode(hashlib.sha256(_INIT_SCRIPT.encode()).digest()).decode(),
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def docs_page():
    return Response(
        _PAGE, mimetype="text/html", headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


def asset_response(name):
    """One of the ``ASSETS`` by name; any other name is a 404."""
    if name not in ASSETS:
        raise RouteNotFound(f"No documentation file {name}.", {"asset": name})
    return Response(
        _read_asset(name), content_type=ASSETS[name], headers={"Cache-Control": ASSET_CACHE_CONTROL},
    )


@functools.lru_cache(maxsize=None)
def _read_asset(name):
    return (ASSET_DIR / name).read_bytes()
