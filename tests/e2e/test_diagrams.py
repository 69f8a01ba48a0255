"""Every Mermaid diagram in the docs renders in a real browser: headless Chromium runs mermaid.

The ```mermaid blocks of docs/**/*.md and README.md are rendered one by one by npm's mermaid
(pinned in package-lock.json; `make test` runs `npm ci`), loaded from node_modules by a page
that a local HTTP server on 127.0.0.1 serves: no network is used. A diagram fails if
``mermaid.parse`` or ``mermaid.render`` throws, or no SVG comes back; a rendered one must show
every participant (or state) its source declares, and a sequence diagram every message.

Needs Debian's chromium and chromium-driver and node_modules/mermaid. Without them the test is
skipped, except on CI (CI set), where it fails. Selenium is given the driver and the browser
explicitly, so Selenium Manager never tries to download either.
"""
import http.server
import itertools
import os
import re
import tempfile
import threading
from pathlib import Path

import pytest

from support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MERMAID_JS = ROOT / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--window-size=1600,1200",
)
RENDER_TIMEOUT_SECONDS = 20
SOURCES = sorted((ROOT / "docs").glob("**/*.md")) + [ROOT / "README.md"]
# mermaid.render needs an element id that is unique in the page.
RENDER_IDS = itertools.count()

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>diagrams</title><link rel="icon" href="data:,">
<script src="/mermaid.min.js"></script>
<script>mermaid.initialize({startOnLoad: false, securityLevel: "strict"});</script>
</head><body><div id="out"></div></body></html>
"""

# Parse, then render one diagram; the SVG is put in the page so that its layout can be measured.
# Text is read from <text> and <foreignObject> (HTML labels), never from the SVG's <style>.
RENDER = """
const [source, id, done] = arguments;
(async () => {
  try {
    await mermaid.parse(source);
  } catch (error) {
    return done({stage: "parse", error: String(error && error.message || error)});
  }
  let result;
  try {
    result = await mermaid.render(id, source);
  } catch (error) {
    return done({stage: "render", error: String(error && error.message || error)});
  }
  const out = document.getElementById("out");
  out.innerHTML = result.svg;
  const svg = out.querySelector("svg");
  if (!svg) return done({stage: "render", error: "no <svg> in what mermaid.render returned"});
  const box = svg.getBBox();
  done({
    diagramType: result.diagramType,
    role: svg.getAttribute("aria-roledescription"),
    width: box.width, height: box.height,
    texts: Array.from(svg.querySelectorAll("text, foreignObject")).map(node => node.textContent),
    messages: svg.querySelectorAll(".messageText").length,
  });
})();
"""

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*mermaid\s*$")
ARROW = r"(?:<<-->>|<<->>|-->>|->>|-->|->|--x|-x|--\)|-\))"
MESSAGE = re.compile(rf"^\s*([^\s:]+?)\s*{ARROW}\s*[+-]?\s*([^\s:]+?)\s*:(.*)$")
PARTICIPANT = re.compile(r"^\s*(?:participant|actor)\s+(\S+)(?:\s+as\s+(.+?))?\s*$")
TRANSITION = re.compile(r"^\s*(\S+)\s+-->\s+(\S+?)\s*(?::.*)?$")


def mermaid_blocks(path):
    """``(line number of the fence, source)`` of every ```mermaid block in a Markdown file."""
    blocks, lines = [], path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if not opening:
            continue
        fence, start, body = opening.group(1), index, []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1
        blocks.append((start, "\n".join(body)))
    return blocks


DIAGRAMS = [
    pytest.param(source, id=f"{path.relative_to(ROOT)}:{line}")
    for path in SOURCES if path.exists()
    for line, source in mermaid_blocks(path)
]


def diagram_kind(source):
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("%%"):
            return line.split()[0]
    return None


def expected_labels(source):
    """What a rendered diagram must show: its participants, or its states."""
    labels, statements = [], [line for line in source.splitlines() if not line.strip().startswith("%%")]
    kind = diagram_kind(source)
    if kind == "sequenceDiagram":
        declared = {}
        for line in statements:
            participant = PARTICIPANT.match(line)
            if participant:
                declared[participant.group(1)] = participant.group(2) or participant.group(1)
        for line in statements:
            message = MESSAGE.match(line)
            if message:
                for name in message.groups()[:2]:
                    declared.setdefault(name, name)
        labels = list(declared.values())
    elif kind in ("stateDiagram", "stateDiagram-v2"):
        for line in statements:
            transition = TRANSITION.match(line)
            if transition:
                labels += [state for state in transition.groups() if state != "[*]" and state not in labels]
    return labels


def messages(source):
    """The text of every message of a sequence diagram, in order."""
    return [match.group(3).strip() for match in map(MESSAGE.match, source.splitlines()) if match]


def _missing(what):
    if os.environ.get("CI"):
        pytest.fail(what)
    pytest.skip(what)


class _Files(http.server.BaseHTTPRequestHandler):
    """The page and mermaid's bundle, by exact path; nothing else on disk is reachable."""

    files = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        body, content_type = self.files.get(self.path.split("?")[0], (None, None))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def page_url():
    if not MERMAID_JS.exists():
        _missing(f"the diagram test needs {MERMAID_JS.relative_to(ROOT)}: npm ci (make test runs it)")
    handler = type("Handler", (_Files,), {"files": {
        "/": (PAGE, "text/html; charset=utf-8"),
        "/mermaid.min.js": (MERMAID_JS.read_bytes(), "text/javascript; charset=utf-8"),
    }})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(page_url):
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        _missing(f"headless Chromium needs {' and '.join(missing)}: "
                 "apt-get install chromium chromium-driver (.ci/run does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
        try:
            driver.set_script_timeout(RENDER_TIMEOUT_SECONDS)
            driver.get(f"{page_url}/")
            assert driver.execute_script("return typeof mermaid") == "object", (
                f"mermaid did not load: {driver.get_log('browser')}")
            yield driver
        finally:
            driver.quit()


def _normalised(text):
    return " ".join(text.split())


def test_the_docs_have_diagrams():
    assert DIAGRAMS, f"no ```mermaid block in {[str(path.relative_to(ROOT)) for path in SOURCES]}"


@pytest.mark.parametrize("source", DIAGRAMS)
def test_diagram_renders(browser, source):
    result = browser.execute_async_script(RENDER, source, f"diagram{next(RENDER_IDS)}")
    assert "error" not in result, f"mermaid.{result['stage']} failed: {result['error']}"

    assert result["role"], "the SVG names no diagram type"
    assert result["width"] > 0 and result["height"] > 0, f"the SVG is empty: {result}"
    # Each label and message is one text node of its own: compared whole, not as a substring.
    shown = {_normalised(text) for text in result["texts"]} - {""}
    assert shown, "the SVG shows no text"
    assert not [text for text in shown if "Syntax error" in text], shown
    for label in expected_labels(source):
        assert _normalised(label) in shown, f"{label!r} is not shown; the SVG shows: {sorted(shown)}"
    if diagram_kind(source) == "sequenceDiagram":
        assert result["diagramType"] == "sequence", result["diagramType"]
        written = messages(source)
        assert result["messages"] == len(written), f"{len(written)} messages in the source, {result['messages']} drawn"
        for text in written:
            assert _normalised(text) in shown, f"message {text!r} is not shown; the SVG shows: {sorted(shown)}"


def test_the_page_loaded_nothing_but_the_local_files(browser, page_url):
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert f"{page_url}/mermaid.min.js" in loaded, loaded
    assert all(url.startswith(f"{page_url}/") for url in loaded), loaded
    assert not [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
