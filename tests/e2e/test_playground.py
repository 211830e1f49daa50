"""The web playground in a real browser (Playwright driving Debian's Chromium, headless) against a
real server: every test checks that the page logged no console error and requested nothing off
its own origin, and leaves a screenshot among the test artefacts.

Chromium comes from Debian (`apt-get install chromium`, done here when it is missing); the run
fails, never skips, without it. No `playwright install`: nothing is downloaded from elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

from reelforge.core.sizes import frame_size
from tests.helpers import (
    KEY,
    Server,
    create,
    free_port,
    png_bytes,
    synthetic_image,
    wait_done,
)

CHROMIUM = Path("/usr/bin/chromium")
NODE_DIR = Path(__file__).resolve().parents[1] / "node"  # the AI SDK, pinned
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "playground.png"
JOB_TIMEOUT_MS = 60_000
# Chromium's own note when a fetch gets an HTTP error; expected only where the test sends a
# request the server must refuse.
HTTP_ERROR_NOTE = "Failed to load resource: the server responded with a status of 4"


def _install_chromium() -> None:
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser() -> Browser:
    _install_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Server:
    args = ["--workers", "2", "--grpc-port", str(free_port())]  # gRPC: for the xai-sdk snippet
    srv = Server(tmp_path_factory.mktemp("playground") / "data", args=args).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """The artefacts: one screenshot per test (and the README's, in docs/img)."""
    return tmp_path_factory.mktemp("playground-screenshots")


class Watched:
    """A page and what it did wrong: console errors, page errors, off-origin requests."""

    def __init__(self, page: Page, origin: str):
        self.page = page
        self.origin = origin
        self.console_errors: list[str] = []
        self.off_origin: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"page error: {exc}"))
        page.on("request", self._request)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def _request(self, request: Request) -> None:
        url = request.url
        if url.startswith(("blob:", "data:")):  # the page's own previews, never the network
            return
        if not url.startswith(self.origin + "/"):
            self.off_origin.append(url)


@pytest.fixture
def watched(browser, site, screenshots, request) -> Watched:
    """A fresh page on the playground with its own API key (so its own history)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    key = f"pw-{request.node.name[:40]}-{time.time_ns()}"
    context.add_init_script(f"localStorage.setItem('reelforge.apiKey', {key!r})")
    page = context.new_page()
    page.set_default_timeout(JOB_TIMEOUT_MS)
    w = Watched(page, site.base_url)
    w.key = key  # type: ignore[attr-defined]
    page.goto(f"{site.base_url}/")
    page.wait_for_selector("#model option", state="attached")
    yield w
    page.screenshot(path=screenshots / f"{request.node.name}.png", full_page=True)
    context.close()
    expected = request.node.get_closest_marker("http_errors") is not None
    errors = [e for e in w.console_errors if not (expected and e.startswith(HTTP_ERROR_NOTE))]
    assert errors == [], errors
    assert w.off_origin == [], w.off_origin


def settle_cost(page: Page) -> int:
    """The quote for the form as it now is."""
    page.wait_for_selector("#cost[data-ticks]:not([aria-busy])", state="attached")
    return int(page.get_attribute("#cost", "data-ticks"))


def loaded_video(page: Page) -> dict:
    page.wait_for_function(
        "document.querySelector('#result-video').readyState >= 2", timeout=JOB_TIMEOUT_MS
    )
    return page.evaluate(
        """() => { const v = document.querySelector('#result-video');
                   return {duration: v.duration, width: v.videoWidth, height: v.videoHeight,
                           src: v.currentSrc}; }"""
    )


def shown_cost(page: Page) -> int:
    return int(page.get_attribute("#result-cost", "data-ticks"))


def usage_of(site: Server, key: str, page: Page) -> int:
    """The usage the server reports for the job the page shows."""
    job_id = page.text_content("#result-title").split()[-1]
    with site.client(key) as c:
        return c.get(f"/v1/videos/{job_id}").json()["usage"]["cost_in_usd_ticks"]


def fill_text_job(page: Page, prompt: str, seconds: int, resolution: str = "480p") -> int:
    page.check('input[name="mode"][value="text-to-video"]')
    page.fill("#prompt", prompt)
    page.fill("#duration", str(seconds))
    page.select_option("#aspect-ratio", "16:9")
    page.select_option("#resolution", resolution)
    return settle_cost(page)


def test_text_to_video_end_to_end(watched, site):
    page = watched.page
    quoted = fill_text_job(page, "a red ball bouncing on a beach, pan left", 2)
    page.click("#generate")
    video = loaded_video(page)
    assert abs(video["duration"] - 2) < 0.1, video
    assert (video["width"], video["height"]) == frame_size("16:9", "480p") == (848, 480)
    assert video["src"].startswith(f"{site.base_url}/v1/media/")
    # the cost shown before the click, and after, is what the server charged
    assert quoted == shown_cost(page) == usage_of(site, watched.key, page) == 1_000_000_000
    assert page.get_attribute("#download", "href") == video["src"]
    assert page.is_visible("#extend-this") and page.is_visible("#edit-this")
    for language, marker in (
        ("curl", "/v1/videos/generations"),
        ("python", "client.video.generate("),
        ("js", "generateVideo({"),
    ):
        page.select_option("#copy-as", language)
        code = page.text_content("#copy-code")
        assert marker in code and "a red ball bouncing on a beach, pan left" in code, code
        assert "duration" in code


def test_copy_as_gives_code_that_makes_the_same_video(watched, site, tmp_path):
    """Each "copy as" snippet, run as copied (only the gRPC port set), makes the same request:
    the server answers it with the very bytes the playground's own request got."""
    page = watched.page
    fill_text_job(page, "a blue car driving, zoom in", 1)
    page.click("#generate")
    ours = httpx.get(loaded_video(page)["src"]).content
    code = {}
    for language in ("curl", "python", "js"):
        page.select_option("#copy-as", language)
        code[language] = page.text_content("#copy-code")
    env = {**os.environ, "XAI_API_KEY": watched.key}

    def run(command: list[str], source: str, cwd: Path | None = None) -> str:
        proc = subprocess.run(
            command, input=source, capture_output=True, text=True, timeout=90, env=env, cwd=cwd
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    request_id = json.loads(run(["bash"], code["curl"]))["request_id"]
    with site.client(watched.key) as c:
        assert httpx.get(wait_done(c, request_id)["video"]["url"]).content == ours
    python = code["python"].replace(":50051", f":{site.grpc_port}")
    url = run([sys.executable, "-"], python).split()[0]
    assert httpx.get(url).content == ours
    node = shutil.which("node")
    assert node and (NODE_DIR / "node_modules" / "@ai-sdk" / "xai").is_dir(), "npm ci first"
    (tmp_path / "node_modules").symlink_to(NODE_DIR / "node_modules")  # for its imports
    metadata = json.loads(run([node, "--input-type=module"], code["js"], tmp_path).splitlines()[-1])
    assert httpx.get(metadata["videoUrl"]).content == ours


def test_image_to_video_with_a_real_upload(watched, site):
    page = watched.page
    page.check('input[name="mode"][value="image-to-video"]')
    png = png_bytes(synthetic_image(640, 480))  # 4:3: with "the image's" ratio the video is 4:3
    # dropped onto the drop zone, as a person would
    page.evaluate(
        """([data, name]) => {
             const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
             const dt = new DataTransfer();
             dt.items.add(new File([bytes], name, {type: 'image/png'}));
             const zone = document.querySelector('#image-drop');
             zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
           }""",
        [base64.b64encode(png).decode(), "picture.png"],
    )
    page.wait_for_function(
        "document.querySelector('#image-preview').naturalWidth === 640", timeout=10_000
    )
    page.fill("#prompt", "zoom in")
    page.fill("#duration", "1")
    assert page.input_value("#aspect-ratio") == ""  # the image's own
    quoted = settle_cost(page)
    page.click("#generate")
    video = loaded_video(page)
    assert (video["width"], video["height"]) == frame_size("4:3", "480p")
    assert abs(video["duration"] - 1) < 0.1
    assert quoted == shown_cost(page) == usage_of(site, watched.key, page)
    with site.client(watched.key) as c:  # the image went through the Files API
        [uploaded] = c.get("/v1/files").json()["data"]
    assert uploaded["filename"] == "picture.png" and uploaded["bytes"] == len(png)
    page.select_option("#copy-as", "curl")
    assert uploaded["id"] in page.text_content("#copy-code")


def test_extend_chained_from_a_result(watched, site):
    page = watched.page
    fill_text_job(page, "a cat walking in the snow", 2)
    page.click("#generate")
    first = loaded_video(page)
    page.click("#extend-this")
    page.wait_for_function(
        "document.querySelector('#video-source').textContent.startsWith('Video: the result')"
    )
    assert page.is_checked('input[name="mode"][value="extension"]')
    page.fill("#prompt", "the cat keeps walking")
    page.fill("#duration", "2")
    quoted = settle_cost(page)
    page.click("#generate")
    page.wait_for_function(
        f"document.querySelector('#result-video').currentSrc !== {first['src']!r}"
    )
    video = loaded_video(page)
    assert abs(video["duration"] - 4) < 0.1, video  # the 2 s result, then 2 s more
    assert (video["width"], video["height"]) == (848, 480)
    assert quoted == shown_cost(page) == usage_of(site, watched.key, page)
    page.wait_for_function("document.querySelectorAll('#history-list img').length === 2")
    page.wait_for_function(
        "[...document.querySelectorAll('#history-list img')].every(i => i.naturalWidth > 0)"
    )
    page.evaluate("window.scrollTo(0, 0)")
    shot = page.screenshot(full_page=True)
    assert shot.startswith(b"\x89PNG")
    if os.environ.get("REELFORGE_RETAKE_SCREENSHOT"):  # the README's picture, on request only:
        DOCS_SCREENSHOT.write_bytes(shot)  # a test run leaves the checkout as it found it


def test_cancel(watched, site):
    page = watched.page
    fill_text_job(page, "a long slow sunset over the sea", 15, "720p")
    page.click("#generate")
    page.wait_for_selector("#job:not([hidden])")
    page.click("#cancel")
    page.wait_for_selector("#failed:not([hidden])")
    assert page.text_content("#failed-summary") == "Cancelled."
    assert page.is_hidden("#result-video") and page.is_hidden("#download")
    with site.client(watched.key) as c:
        [job] = c.get("/v1/video-requests").json()["data"]
    assert job["status"] == "failed" and job["error"]["code"] == "cancelled"


@pytest.mark.http_errors
def test_a_bad_input_shows_the_servers_error(watched, site):
    page = watched.page
    page.check('input[name="mode"][value="image-to-video"]')
    page.fill("#prompt", "zoom in")
    page.fill("#duration", "1")
    page.fill("#image-url", "http://127.0.0.1:9/private.png")
    page.click("#generate")
    page.wait_for_selector("#error:not([hidden])")
    with site.client(watched.key) as c:  # the same request, straight to the API
        body = {"model": "grok-imagine-video", "prompt": "zoom in", "duration": 1}
        body |= {"resolution": "480p", "image": {"url": "http://127.0.0.1:9/private.png"}}
        refused = c.post("/v1/videos/generations", json=body)
    assert refused.status_code == 400
    server_error = refused.json()["error"]
    assert "image.url" in server_error
    summary = page.text_content("#error-summary")
    assert summary == f"HTTP 400 ({refused.json()['code']}): {server_error}"
    assert server_error in page.text_content("#error-body")  # the body, verbatim
    assert page.is_hidden("#result")


def test_a_moderated_prompt_is_shown_blocked(watched, site):
    page = watched.page
    fill_text_job(page, "go fuck yourself", 1)
    page.click("#generate")
    page.wait_for_selector("#blocked:not([hidden])")
    assert "Blocked by content moderation" in page.text_content("#blocked")
    assert page.is_hidden("#result-video") and page.is_hidden("#download")
    assert page.is_hidden("#extend-this")
    assert shown_cost(page) == usage_of(site, watched.key, page)


def test_history_lists_the_jobs_with_thumbnails_and_marks_expired_ones(browser, tmp_path):
    srv = Server(tmp_path / "data", args=["--workers", "2", "--retention", "4"]).start()
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        with srv.client(KEY) as c:
            old = create(c, {"prompt": "an old bird", "duration": 1})
            wait_done(c, old)
            time.sleep(4.5)  # past retention: it reads expired
            ids = [create(c, {"prompt": f"a car, take {n}", "duration": 1}) for n in range(3)]
            for job_id in ids:
                wait_done(c, job_id)
        context.add_init_script(f"localStorage.setItem('reelforge.apiKey', {KEY!r})")
        page = context.new_page()
        page.set_default_timeout(JOB_TIMEOUT_MS)
        w = Watched(page, srv.base_url)
        page.goto(f"{srv.base_url}/playground/")
        page.wait_for_function("document.querySelectorAll('#history-list li').length === 4")
        listed = page.eval_on_selector_all(
            "#history-list button", "bs => bs.map(b => b.dataset.id)"
        )
        assert listed == [*reversed(ids), old]  # newest first
        page.wait_for_function(
            "[...document.querySelectorAll('#history-list img')].every(i => i.complete)"
        )
        widths = page.eval_on_selector_all("#history-list img", "is => is.map(i => i.naturalWidth)")
        assert widths == [848, 848, 848]  # every thumbnail loaded: the first frames
        expired = page.locator(f'#history-list button[data-id="{old}"] .status')
        assert "expired" in expired.get_attribute("class") and "expired" in expired.text_content()
        page.click(f'#history-list button[data-id="{ids[0]}"]')  # opens the job
        assert abs(loaded_video(page)["duration"] - 1) < 0.1
        page.click(f'#history-list button[data-id="{old}"]')
        page.wait_for_selector("#failed:not([hidden])")
        assert "expired" in page.text_content("#failed-summary")
        page.screenshot(path=tmp_path / "history.png", full_page=True)
        context.close()
        assert w.console_errors == [] and w.off_origin == []
    finally:
        srv.stop()


def test_every_control_is_labelled_reachable_and_fits_a_phone(watched):
    """All modes and models shown in turn: no console error, no request off the origin, every
    control labelled, the form reachable by keyboard, nothing wider than a phone."""
    page = watched.page
    page.set_viewport_size({"width": 390, "height": 844})
    for model in page.eval_on_selector_all("#model option", "os => os.map(o => o.value)"):
        page.select_option("#model", model)
        for mode in ("text-to-video", "image-to-video", "reference-to-video", "edit", "extension"):
            radio = page.locator(f'input[name="mode"][value="{mode}"]')
            if radio.is_disabled():
                continue
            radio.check()
            unlabelled = page.evaluate(
                """() => [...document.querySelectorAll('input, select, textarea, button')]
                     .filter(e => e.offsetParent !== null)
                     .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                  && !(e.tagName === 'BUTTON' && e.textContent.trim()))
                     .map(e => e.id || e.outerHTML)"""
            )
            assert unlabelled == [], (model, mode, unlabelled)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (model, mode, width)
    page.select_option("#model", "grok-imagine-video-1.5")
    page.check('input[name="mode"][value="text-to-video"]')
    assert page.is_visible("#last-frame-file") and page.is_visible("#keyframe-file")
    page.check('input[name="mode"][value="reference-to-video"]')
    assert page.locator('input[name="voice"]').count() == 6
    page.focus("#api-key")
    for _ in range(60):  # Tab from the key field reaches the Generate button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "generate":
            break
    else:
        pytest.fail("the Generate button is not reachable with Tab")
    page.focus("#prompt")
    page.keyboard.type("a quiet lake")
    settle_cost(page)
    assert httpx.get(watched.origin + "/playground/").status_code == 200
