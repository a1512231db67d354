"""Smoke test of the e2e infrastructure: real headless Chromium loads a page from a local HTTP
server, runs its JavaScript, renders Chinese text and takes a screenshot."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page

HTML = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>e2e smoke</title></head>
<body>
  <h1 id="title">供应商主数据</h1>
  <p id="status">waiting</p>
  <button id="go" type="button">Click me</button>
  <script>
    document.getElementById("go").addEventListener("click", function () {
      document.getElementById("status").textContent = "clicked: 已确认";
    });
  </script>
</body>
</html>
""".encode("utf-8")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(HTML)))
        self.end_headers()
        self.wfile.write(HTML)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def site_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_page_click_chinese_text_and_screenshot(
    page: Page, site_url: str, tmp_path: Path
) -> None:
    response = page.goto(site_url)
    assert response is not None and response.ok

    assert page.inner_text("#status") == "waiting"
    page.click("#go")
    page.wait_for_function(
        "document.getElementById('status').textContent !== 'waiting'", timeout=5000
    )
    assert page.inner_text("#status") == "clicked: 已确认"

    assert page.inner_text("#title") == "供应商主数据"
    assert "供应商" in page.inner_text("body")
    assert page.title() == "e2e smoke"

    shot = tmp_path / "smoke.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert len(data) > len(PNG_SIGNATURE)
    assert data.startswith(PNG_SIGNATURE)
