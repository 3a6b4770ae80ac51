"""The viewers of the dashboard benchmark: real Chromium pages (Debian's chromium, driven by
playwright; never `playwright install`), each watching its own DOM for probe values.

Every page runs a MutationObserver installed before the app's scripts: whenever the DOM
under the watched panel changes, it scans the panel's text for probe tokens and keeps the
browser's wall-clock time (`Date.now()`) of each token's first appearance. Reading those
times once at the end keeps the benchmark from polling 20 pages while it measures them.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROBE_PREFIX = "sdprobe"
PROBE = re.compile(PROBE_PREFIX + r"[0-9a-f]{10}")

_OBSERVER = """
(() => {
  const panel = %(panel)r, pattern = new RegExp(%(pattern)r, "g");
  window.__sdSeen = {};
  const scan = () => {
    const el = document.getElementById(panel);
    if (!el) return;
    const now = Date.now();
    for (const match of el.textContent.matchAll(pattern)) {
      if (!(match[0] in window.__sdSeen)) window.__sdSeen[match[0]] = now;
    }
  };
  new MutationObserver(scan).observe(document, {subtree: true, childList: true,
                                                characterData: true});
})();
"""


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError(
            "the dashboard benchmark needs Debian's chromium (apt-get install chromium; "
            "`make system-deps` installs it as root)"
        )
    return path


@dataclass
class Viewer:
    context: BrowserContext
    page: Page

    def seen_ms(self) -> dict[str, float]:
        """Probe token -> browser wall-clock ms of its first appearance in the panel."""
        seen = self.page.evaluate("() => window.__sdSeen || {}")
        return {str(k): float(v) for k, v in seen.items()}


@dataclass
class Viewers:
    browser: Browser
    pages: list[Viewer]

    def browser_cpu_seconds(self) -> float:
        """CPU time of every Chromium process so far (browser, renderers, GPU/utility)."""
        total = 0.0
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "chrom" in proc.name():
                    times = proc.cpu_times()
                    total += times.user + times.system
        return total


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def open_viewers(
    browser: Browser, url: str, count: int, panel_id: str, timeout: float = 90.0
) -> Iterator[Viewers]:
    """`count` viewers, one browser context each (separate sessions, like separate people),
    all on `url`. Opened one after the other, each once the previous one has drawn its
    first refresh: twenty pages loading Dash's bundles at once would stall two cores."""
    script = _OBSERVER % {"panel": panel_id, "pattern": PROBE.pattern}
    pages: list[Viewer] = []
    try:
        for _ in range(count):
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.add_init_script(script)
            page = context.new_page()
            pages.append(Viewer(context, page))
            page.goto(url, timeout=timeout * 1000)
            page.wait_for_selector(f"#{panel_id} table", timeout=timeout * 1000)
        yield Viewers(browser, pages)
    finally:
        for viewer in pages:
            viewer.context.close()
