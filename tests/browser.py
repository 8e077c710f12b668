"""Open a report page in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
selenium; no browser download) at a given viewport width and say what a reader would hit:
horizontal overflow, images or audio that do not load, console errors, missing sections.

    problems = check_page(Path("results/report/index.html"), width=390)   # [] when all is well

Sideways: ``document.documentElement.scrollWidth`` must not exceed the width asked for (wide tables scroll
inside their own box), and the verdict's tables (and any ``table.prose``) fit their box without scrolling.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver", "chromium.chromedriver")
INSTALL = (
    "headless Chromium is missing: install Debian's chromium and chromium-driver "
    "(scripts/setup.sh test does it when run as root)"
)


def _which(names) -> str | None:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/lib/chromium/{name}" if Path(f"/usr/lib/chromium/{name}").is_file() else None
        )
        if found:
            return found
    return None


def driver(width: int, height: int = 900):
    """A headless Chromium session with a ``width`` x ``height`` CSS-pixel viewport (mobile emulation
    below 600 px) and the browser console logged."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = _which(CHROMIUM), _which(DRIVER)
    if browser is None or chromedriver is None:
        raise RuntimeError(INSTALL)
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--autoplay-policy=no-user-gesture-required",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    d.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    return d


MEDIA_STATE = """
const imgs = [...document.images].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0,
                                            done: i.complete}));
const auds = [...document.querySelectorAll('audio')].map(a => ({src: a.getAttribute('src'),
    ok: a.readyState >= 1 && a.duration > 0, done: a.readyState >= 1 || a.error !== null,
    error: a.error ? a.error.code : null}));
return {imgs, auds};
"""

LAYOUT = """
const vw = document.documentElement.clientWidth;
const wide = [...document.body.querySelectorAll('*')].filter(e => {
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.right <= vw + 1) return false;
  for (let p = e.parentElement; p; p = p.parentElement) {   // inside a box that scrolls on its own: fine
    const s = getComputedStyle(p);
    if ((s.overflowX === 'auto' || s.overflowX === 'scroll' || s.overflowX === 'hidden') && p !== document.body
        && p !== document.documentElement) return false;
    if (s.display === 'none') return false;
  }
  return true;
}).slice(0, 5).map(e => e.tagName + (e.className ? '.' + e.className : '') + (e.id ? '#' + e.id : ''));
// the verdict's tables (and any table.prose) must fit: their text wraps, they never scroll
const cut = [...document.querySelectorAll('#verdict table, table.prose')].filter(t => {
  const box = t.parentElement;
  return t.getBoundingClientRect().width > box.clientWidth + 1;
}).map(t => Math.round(t.getBoundingClientRect().width) + ' px in a ' + t.parentElement.clientWidth + ' px box');
return {vw, scroll: document.documentElement.scrollWidth, wide, cut,
        sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
        unlabelled: [...document.querySelectorAll('audio')].filter(a => !a.getAttribute('aria-label')).length,
        preload: [...document.querySelectorAll('audio')].filter(a => a.getAttribute('preload') !== 'metadata').length,
        alts: [...document.images].filter(i => !i.alt || /\\.(png|jpg)$/i.test(i.alt)).length};
"""


def check_page(page: Path, width: int, *, sections=("verdict",), timeout: float = 60.0) -> list[str]:
    """Problems a reader of ``page`` meets in a ``width``-px-wide viewport ([] when none)."""
    d = driver(width)
    problems: list[str] = []
    try:
        d.get(Path(page).resolve().as_uri())
        deadline = time.time() + timeout
        while True:
            state = d.execute_script(MEDIA_STATE)
            if all(x["done"] for x in state["imgs"] + state["auds"]) or time.time() > deadline:
                break
            time.sleep(0.25)
        problems += [f"image does not load: {x['src']}" for x in state["imgs"] if not x["ok"]]
        problems += [f"audio does not load: {x['src']} (error {x.get('error')})" for x in state["auds"] if not x["ok"]]
        layout = d.execute_script(LAYOUT)
        if layout["scroll"] > min(layout["vw"], width):  # the page itself, whatever the browser's viewport
            problems.append(
                f"page scrolls sideways at {width} px: {layout['scroll']} px wide, overflowing: {layout['wide']}"
            )
        problems += [f"a table that must fit its box (the verdict's) is cut off: {c}" for c in layout["cut"]]
        problems += [f"section #{s} missing" for s in sections if s not in layout["sections"]]
        if layout["unlabelled"]:
            problems.append(f"{layout['unlabelled']} audio players without a label")
        if layout["preload"]:
            problems.append(f"{layout['preload']} audio players without preload=metadata")
        if layout["alts"]:
            problems.append(f"{layout['alts']} images without a meaningful alt text")
        problems += [f"console: {e['message']}" for e in d.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        if not state["imgs"] or not state["auds"]:
            problems.append(f"no images or no audio on the page ({len(state['imgs'])}, {len(state['auds'])})")
    finally:
        d.quit()
    return problems


def scroll_width(page: Path, width: int) -> int:
    """``document.documentElement.scrollWidth`` of ``page`` in a ``width``-px-wide viewport: how wide the page
    is laid out (more than ``width``: the reader scrolls sideways)."""
    d = driver(width)
    try:
        d.get(Path(page).resolve().as_uri())
        return int(d.execute_script("return document.documentElement.scrollWidth"))
    finally:
        d.quit()
