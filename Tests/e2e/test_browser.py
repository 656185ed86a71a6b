"""The web UI in a real browser (issue: the web UI), and the API docs page, /docs (issue 24).

Headless Chromium (Debian's chromium and chromium-driver, which make deps
installs) driven by Selenium through /usr/bin/chromedriver, against the test
stack's nginx: the page, the REST API and the WebSockets behind it are the
real ones. Every wait is a bounded WebDriverWait, never a sleep.

Screenshots go to var/screenshots/ (the stack directory's sibling; override
with SCREENSHOT_DIR): the board on a desktop and on a phone, and each test's
last state with the browser's console log next to it.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import uuid
from typing import Callable, Iterator, TypeVar

import pytest
import requests
import yaml
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from conftest import REPO, Api, Stack, leaderboardctl, run_sql, unique_email

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "browser-pass-1"
# Long enough for a loaded 2-core CI machine; a live update normally takes well under a second.
WAIT = 20
MAX_SCORE = 10**9

T = TypeVar("T")


def screenshot_dir() -> pathlib.Path:
    configured = os.environ.get("SCREENSHOT_DIR")
    if configured:
        directory = pathlib.Path(configured)
    else:
        stack_dir = pathlib.Path(os.environ.get("STACK_DIR", "var/test"))
        if not stack_dir.is_absolute():
            stack_dir = REPO / stack_dir
        directory = stack_dir.parent / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


class Page:
    """The leaderboard page in one browser, with the few moves the tests make."""

    def __init__(self, driver: WebDriver, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url
        self.console: list[dict] = []

    def console_entries(self) -> list[dict]:
        """Everything the browser's console said so far (the driver hands each entry out once)."""
        self.console += self.driver.get_log("browser")
        return self.console

    def assert_no_script_errors(self) -> None:
        errors = [entry["message"] for entry in self.console_entries() if entry.get("source") == "javascript"]
        assert errors == [], f"the page's scripts failed: {errors}"

    # --- waiting and finding ---

    def wait(self, condition: Callable[[WebDriver], T], message: str, timeout: float = WAIT) -> T:
        return WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
            condition, message
        )

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> WebElement:
        def shown(driver: WebDriver) -> WebElement | bool:
            elements = driver.find_elements(By.CSS_SELECTOR, css)
            return elements[0] if elements and elements[0].is_displayed() else False

        return self.wait(shown, f"{css} is not shown")

    def text_of(self, css: str) -> str:
        elements = self.driver.find_elements(By.CSS_SELECTOR, css)
        return elements[0].text if elements and elements[0].is_displayed() else ""

    def wait_text(self, css: str, pattern: str) -> str:
        """Waits until the element's visible text matches the regular expression; returns the text."""
        regex = re.compile(pattern, re.I)
        return self.wait(lambda _: (text := self.text_of(css)) and regex.search(text) and text, f"{css} never said /{pattern}/ (last: {self.text_of(css)!r})")

    def click(self, css: str) -> None:
        """Clicks the element, found again if a re-render replaced it meanwhile."""
        self.wait(lambda driver: driver.find_element(By.CSS_SELECTOR, css).click() or True, f"could not click {css}")

    def fill(self, css: str, value: str) -> None:
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    # --- the page's parts ---

    def open(self) -> None:
        self.driver.get(f"{self.base_url}/")

    def connection_state(self) -> str:
        element = self.find("#connection")
        return element.get_attribute("data-state") if element.is_displayed() else "hidden"

    def wait_live(self) -> None:
        self.wait(lambda _: self.connection_state() == "live", "the connection state never became live")

    def board_rows(self) -> list[dict[str, str]]:
        """The table's rows, read in one go: a push replaces them all, so element by element could go stale."""
        return self.driver.execute_script(
            """return Array.from(document.querySelectorAll("#board-rows tr"), (row) => ({
                userId: row.dataset.userId, rank: row.dataset.rank, score: row.dataset.score,
                class: row.className, text: row.innerText}));"""
        )

    def row_of(self, user_id: int) -> dict[str, str] | None:
        return next((row for row in self.board_rows() if row["userId"] == str(user_id)), None)

    def wait_row(self, user_id: int, score: int, message: str) -> dict[str, str]:
        return self.wait(
            lambda _: (row := self.row_of(user_id)) and row["score"] == str(score) and row, f"{message} (rows: {self.board_rows()})"
        )

    def select_tab(self, label: str) -> None:
        tab = self.wait(
            lambda driver: next((tab for tab in driver.find_elements(By.CSS_SELECTOR, '[role="tab"]') if tab.text == label), False),
            f"no tab {label}",
        )
        tab.click()
        self.wait(lambda _: tab.get_attribute("aria-selected") == "true", f"the tab {label} is not selected")
        self.wait_board(tab.get_attribute("data-game"))

    def wait_board(self, game: str) -> None:
        """Waits until the table shows rows of that game's board (pushes for another game are dropped)."""
        self.wait(
            lambda _: self.find("#board-table").get_attribute("data-game") == game and self.text_of("#board-summary").find("updated") >= 0,
            f"the table never showed the board of {game}",
        )

    def wait_role(self, role: str) -> None:
        """Waits until the page knows the session's role (from /auth/me)."""
        self.wait(lambda driver: driver.find_element(By.TAG_NAME, "body").get_attribute("data-role") == role,
                  f"the page never took the session for a {role}")

    def select_period(self, label: str) -> None:
        for option in self.driver.find_elements(By.CSS_SELECTOR, ".periods label"):
            if option.text.strip() == label:
                option.click()
                return
        raise AssertionError(f"no period {label}")

    def cookie_token(self) -> str:
        cookie = self.driver.get_cookie("ath")
        assert cookie is not None, "no ath cookie after logging in"
        assert cookie.get("httpOnly") is True, f"the ath cookie is readable by scripts: {cookie}"
        return cookie["value"]

    def settle(self) -> None:
        """Waits for the rows' update flash to fade, so that a screenshot shows the colours at rest."""
        self.wait(
            lambda driver: driver.execute_script(
                "return document.getAnimations().every((a) => a.animationName !== 'flash' || a.playState !== 'running')"
            ),
            "the rows kept flashing",
        )

    def save(self, name: str) -> pathlib.Path:
        path = screenshot_dir() / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture(scope="session")
def chromium_paths() -> tuple[str, str]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run make deps (Debian's chromium and chromium-driver)")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture
def page(base_url: str, chromium_paths: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh headless Chromium (own profile, so no cookies) on a desktop-sized window."""
    browser, driver_path = chromium_paths
    profile = tempfile.mkdtemp(prefix="lb-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--lang=en-US",
        "--no-first-run",
        "--no-default-browser-check",
        # Nothing but the stack: no update checks, sync or other calls out.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    # Chromium refuses to run as root (CI) with its sandbox, and containers often lack the user
    # namespaces the sandbox needs; this browser only ever visits the test stack.
    options.add_argument("--no-sandbox")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager is never asked (it would try the network).
    service = Service(executable_path=driver_path)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.set_page_load_timeout(30)
    page = Page(driver, base_url)
    try:
        yield page
    finally:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        try:
            page.save(f"last-{name}")
            log = "\n".join(f"{entry['level']} {entry['message']}" for entry in page.console_entries())
            (screenshot_dir() / f"last-{name}.console.log").write_text(log + "\n")
        except WebDriverException:
            pass
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def sign_up_in_browser(page: Page, name: str) -> str:
    """Creates an account with the page's signup form (which then logs in); returns the e-mail."""
    email = unique_email("browser")
    page.open()
    page.visible("#signup-form")
    page.fill("#signup-name", name)
    page.fill("#signup-email", email)
    page.fill("#signup-password", PASSWORD)
    page.find("#signup-form button[type=submit]").click()
    page.visible("#member-view")
    page.wait_text("#account-name", re.escape(name))
    return email


def log_in_in_browser(page: Page, email: str, name: str) -> None:
    page.open()
    page.visible("#login-form")
    page.fill("#login-email", email)
    page.fill("#login-password", PASSWORD)
    page.find("#login-form button[type=submit]").click()
    page.visible("#member-view")
    page.wait_text("#account-name", re.escape(name))


def new_admin(api: Api, stack: Stack, name: str) -> tuple[str, dict[str, str]]:
    """A player made admin as an operator does; returns the e-mail and a bearer header."""
    email = unique_email(name.lower())
    signup = api.post("/auth/signup", json={"email": email, "name": name, "password": PASSWORD})
    assert signup.status_code == 201, signup.text
    leaderboardctl(stack.directory, "users", "grant-admin", email)
    login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return email, {"Authorization": f"Bearer {login.json()['data']['token']}"}


@pytest.fixture
def new_slug(stack_env: dict[str, str]) -> Iterator[Callable[[str], str]]:
    """Fresh slugs for the games a test makes; each is archived after it, so no later test's /games lists it."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(f"{prefix}{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    for slug in made:
        run_sql(stack_env, "UPDATE games SET archived = true WHERE slug = :'slug'", slug=slug)


def new_player(api: Api, name: str) -> tuple[int, dict[str, str]]:
    email = unique_email(name.lower())
    signup = api.post("/auth/signup", json={"email": email, "name": name, "password": PASSWORD})
    assert signup.status_code == 201, signup.text
    login = api.post("/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return signup.json()["data"]["id"], {"Authorization": f"Bearer {login.json()['data']['token']}"}


def top_score(api: Api, auth: dict[str, str], game: str) -> int:
    response = api.get(f"/leaderboards/{game}", params={"start": 0, "end": 0}, headers=auth)
    assert response.status_code == 200, response.text
    rows = response.json()["data"]["result"]
    return rows[0]["score"] if rows else 0


# --- the pages' files ---------------------------------------------------------


def test_asset_versions_match_the_files_and_nginx_caches_them_accordingly(base_url: str) -> None:
    check = subprocess.run(
        [str(REPO / "scripts" / "stamp-assets.py"), "--check"], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, f"index.html names stale asset versions:\n{check.stderr}"

    index = requests.get(f"{base_url}/", timeout=10)
    assert index.status_code == 200 and "text/html" in index.headers["Content-Type"]
    assert index.headers.get("Cache-Control") == "no-cache"
    assert index.headers.get("ETag"), "no ETag: revalidating index.html would download it every time"

    assets = re.findall(r'"(/(?:js|css)/[\w.-]+\?v=[0-9a-f]+)"', index.text)
    assert any(asset.startswith("/js/app.js?") for asset in assets) and any(asset.startswith("/css/") for asset in assets)
    for asset in assets:
        response = requests.get(f"{base_url}{asset}", timeout=10)
        assert response.status_code == 200, asset
        assert response.headers.get("Cache-Control") == "public, max-age=31536000, immutable", asset
        expected_type = "application/javascript" if ".js?" in asset else "text/css"
        assert response.headers["Content-Type"].startswith(expected_type), asset
    unversioned = requests.get(f"{base_url}/js/app.js", timeout=10)
    assert unversioned.headers.get("Cache-Control") == "no-cache"
    missing = requests.get(f"{base_url}/js/no-such-file.js?v=1", timeout=10)
    assert missing.status_code == 404 and "max-age" not in missing.headers.get("Cache-Control", "")
    # An API path that looks like an asset is still the API's.
    api_like = requests.get(f"{base_url}/api/v1/x.js", timeout=10)
    assert api_like.status_code == 404 and api_like.json()["success"] is False


# --- the page ---------------------------------------------------------------------


def test_a_score_submitted_elsewhere_appears_on_the_open_board_without_a_reload(page: Page, api: Api) -> None:
    game, label = "lol", "League of Legends"
    # A name with markup, which the page must show as text.
    name = "Browser <b>Tester</b>"
    sign_up_in_browser(page, name)
    page.wait_live()
    me = requests.get(f"{page.base_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {page.cookie_token()}"}, timeout=10)
    assert me.status_code == 200, me.text
    my_id = me.json()["data"]["id"]

    rival_id, rival_auth = new_player(api, "Rival")
    base = max(999_000_000, top_score(api, rival_auth, game) + 100)
    assert base + 50 <= MAX_SCORE, "the board's top is too close to the maximum for this test"

    page.select_tab(label)
    page.wait_text("#board-title", re.escape(label))
    page.wait_text("#board-summary", "updated")

    # The page's own form: the answer, then the player's row, highlighted, on the live board.
    page.find("#score-game option[value='lol']").click()
    page.fill("#score-value", str(base + 10))
    page.find("#score-value").send_keys(Keys.ENTER)
    page.wait_text("#score-form .form-message", r"new personal best.*rank #1 in League of Legends")
    mine = page.wait_row(my_id, base + 10, "the player's own score never appeared on the board")
    assert "mine" in mine["class"].split() and mine["rank"] == "1"
    assert "<b>" in mine["text"] and "YOU" in mine["text"].upper()
    page.wait_text("#standing-global", r"#\d+ on the global board")
    page.wait(lambda _: page.driver.find_elements(By.CSS_SELECTOR, '#standing-rows tr[data-game="lol"]'), "the standing card lacks lol")

    # Another client submits a better score while the page stays open: it must arrive by itself.
    page.driver.execute_script("window.__sameDocument = 'yes'")
    answer = api.post("/scores", json={"game": game, "score": base + 20}, headers=rival_auth)
    assert answer.status_code == 200, answer.text
    rival = page.wait_row(rival_id, base + 20, "the other client's score never appeared on the open board")
    assert rival["rank"] == "1" and "mine" not in rival["class"].split()
    mine = page.wait_row(my_id, base + 10, "the player's row left the board")
    page.wait(lambda _: page.row_of(my_id)["rank"] == "2", "the player did not move down to rank 2")
    assert "mine" in page.row_of(my_id)["class"].split()
    assert page.driver.execute_script("return window.__sameDocument") == "yes", "the page was reloaded"
    assert page.connection_state() == "live"
    page.settle()
    page.save("board")

    # The report of the last seven days (the form's default range) for this game has both players.
    page.find("#report-game option[value='lol']").click()
    page.find("#report-form button[type=submit]").click()
    page.wait(
        lambda driver: driver.execute_script(
            "return Array.from(document.querySelectorAll('#report-rows tr'), (row) => row.dataset.userId)"
        )[:2] == [str(rival_id), str(my_id)],
        "the report does not list the two players at its top",
    )
    page.driver.set_window_size(1280, 1600)
    page.driver.execute_script("window.scrollTo(0, 0)")
    page.settle()
    page.save("board-and-report")

    # Today's board has both, too; and the address keeps the view.
    page.select_period("Today")
    page.wait_text("#board-title", "Today")
    page.wait_row(rival_id, base + 20, "the rival is not on today's board")
    assert "game=lol" in page.driver.current_url and "period=daily" in page.driver.current_url

    # A phone's screen (a window cannot be narrower than 500 px, so emulate it): still the same
    # board, nothing wider than the screen.
    page.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True}
    )
    page.wait(lambda driver: driver.execute_script("return window.innerWidth") == 390, "the phone emulation did not apply")
    page.driver.execute_script("window.scrollTo(0, 0)")
    # The selected tab is scrolled into the row of tabs when chosen; choose it again at this width.
    page.select_tab("All games")
    page.select_tab(label)
    page.wait(lambda driver: driver.execute_script(
        "const tab = document.querySelector('[role=tab][aria-selected=true]').getBoundingClientRect();"
        "return tab.left >= 0 && tab.right <= window.innerWidth"), "the selected tab is out of sight")
    page.wait_row(rival_id, base + 20, "the rival is not on today's board on a phone")
    page.wait(lambda driver: driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"),
              "the page is wider than a phone's screen")
    page.wait(lambda driver: driver.execute_script(
        "const table = document.querySelector('#board-table'); return table.scrollWidth <= table.parentElement.clientWidth"),
        "the board is wider than a phone's screen")
    page.settle()
    page.save("board-phone")
    page.assert_no_script_errors()


def test_a_visitor_sees_the_boards_before_logging_in_and_they_keep_up_without_a_reload(page: Page, api: Api) -> None:
    game, label = "rl", "Rocket League"
    rival_id, rival_auth = new_player(api, "Showman")
    base = max(999_000_000, top_score(api, rival_auth, game) + 100)
    assert base + 10 <= MAX_SCORE, "the board's top is too close to the maximum for this test"
    answer = api.post("/scores", json={"game": game, "score": base}, headers=rival_auth)
    assert answer.status_code == 200, answer.text

    page.open()
    page.visible("#login-form")
    page.visible("#login-link")
    assert not page.find("#member-view").is_displayed()
    # The global board first, with rows, and no session.
    page.wait_board("all")
    page.wait(lambda _: len(page.board_rows()) > 0, "the global board shows no rows to a visitor")
    page.select_tab(label)
    page.wait_row(rival_id, base, "the visitor does not see the top score of the board")
    assert page.driver.get_cookie("ath") is None

    # Another client scores while the visitor looks: the board catches up by itself.
    page.driver.execute_script("window.__sameDocument = 'yes'")
    answer = api.post("/scores", json={"game": game, "score": base + 10}, headers=rival_auth)
    assert answer.status_code == 200, answer.text
    page.wait_row(rival_id, base + 10, "the visitor's board did not catch up without a reload")
    assert page.driver.execute_script("return window.__sameDocument") == "yes", "the page was reloaded"

    # The report is public too.
    page.find("#report-game option[value='rl']").click()
    page.find("#report-form button[type=submit]").click()
    page.wait(
        lambda driver: str(rival_id) in driver.execute_script(
            "return Array.from(document.querySelectorAll('#report-rows tr'), (row) => row.dataset.userId)"),
        "the visitor's report does not list the board's top player",
    )
    page.driver.execute_script("window.scrollTo(0, 0)")
    page.settle()
    page.save("visitor")

    # The header's button leads to the login form (below the board on a phone).
    page.find("#login-link").click()
    assert page.driver.switch_to.active_element == page.find("#login-email")
    page.assert_no_script_errors()


def test_a_wrong_password_shows_the_error_and_logout_returns_to_the_login_form(page: Page, api: Api) -> None:
    email = unique_email("browser")
    signup = api.post("/auth/signup", json={"email": email, "name": "Logan", "password": PASSWORD})
    assert signup.status_code == 201, signup.text

    page.open()
    page.visible("#login-form")
    page.fill("#login-email", email)
    page.fill("#login-password", "not-the-password")
    page.find("#login-form button[type=submit]").click()
    page.wait_text("#login-form .form-message", "incorrect e-mail or password")
    assert not page.find("#member-view").is_displayed()
    page.save("login-error")

    page.fill("#login-password", PASSWORD)
    page.find("#login-password").send_keys(Keys.ENTER)
    page.visible("#member-view")
    page.wait_text("#account-name", "Logan")
    assert page.text_of("#login-form .form-message") == ""
    page.wait_live()

    page.find("#logout").click()
    page.visible("#login-form")
    page.wait_text("#notice", "logged out")
    assert not page.find("#member-view").is_displayed()
    assert page.driver.get_cookie("ath") is None, "logout left the cookie"
    # Reloading stays logged out: the server forgot the session, not just the page.
    page.open()
    page.visible("#login-form")
    assert not page.find("#member-view").is_displayed()
    page.assert_no_script_errors()


def test_validation_errors_show_next_to_their_fields(page: Page) -> None:
    page.open()
    page.visible("#signup-form")
    page.fill("#signup-name", "Val")
    page.fill("#signup-email", "not-an-email")
    page.fill("#signup-password", "short")
    page.find("#signup-form button[type=submit]").click()
    page.wait_text("#signup-form .form-message", "validation failed")
    page.wait_text("#signup-email-error", "valid e-mail")
    page.wait_text("#signup-password-error", "at least 8")
    assert page.find("#signup-email").get_attribute("aria-invalid") == "true"
    assert page.find("#signup-email").get_attribute("aria-describedby") == "signup-email-error"
    assert page.driver.switch_to.active_element == page.find("#signup-email"), "focus is not on the first invalid field"
    page.assert_no_script_errors()


def test_the_page_reconnects_after_a_ws_restart_and_a_revoked_session_returns_to_login(page: Page, api: Api, stack: Stack) -> None:
    game, label = "pubg", "PUBG"
    sign_up_in_browser(page, "Comeback")
    page.wait_live()
    # By keyboard: End moves to the last tab (PUBG of the seeded games, or one another test added).
    last = [tab.text for tab in page.driver.find_elements(By.CSS_SELECTOR, '[role="tab"]')][-1]
    page.find('[role="tab"][aria-selected="true"]').send_keys(Keys.END)
    page.wait(lambda driver: driver.switch_to.active_element.text == last, "End did not move to the last tab")
    assert page.driver.switch_to.active_element.get_attribute("aria-selected") == "true"
    page.wait_text("#board-title", re.escape(last))
    page.select_tab(label)
    page.wait_board(game)
    rival_id, rival_auth = new_player(api, "Rival")
    base = max(999_000_000, top_score(api, rival_auth, game) + 100)

    # With two nodes the page's sockets may be on either daemon (nginx's round robin): stop them all.
    for service in stack.ws_services:
        stack.stop_service(service)
    page.wait(lambda _: page.connection_state() == "reconnecting", "the page did not notice the lost connection")
    page.save("reconnecting")
    # Scored while the page is cut off: it shows once the page is back.
    answer = api.post("/scores", json={"game": game, "score": base + 1}, headers=rival_auth)
    assert answer.status_code == 200, answer.text
    for service in stack.ws_services:
        stack.start_service(service)
    # The back-off never waits more than 30 s; the first retries are far sooner.
    page.wait(lambda _: page.connection_state() == "live", "the page did not reconnect", timeout=45)
    page.wait_row(rival_id, base + 1, "the board did not catch up after reconnecting")

    # The session is revoked elsewhere (its token logged out): the next upgrade is refused
    # with 1008, and the page asks to log in again instead of retrying forever.
    token = page.cookie_token()
    logout = api.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert logout.status_code == 200, logout.text
    for service in stack.ws_services:
        stack.stop_service(service)
        stack.start_service(service)
    page.visible("#login-form")
    page.wait_text("#notice", "session has ended")
    assert not page.find("#member-view").is_displayed()
    # The board stays, now as a visitor's (the cookie of the revoked session is not sent).
    page.wait_row(rival_id, base + 1, "the board is gone after the session ended")
    page.assert_no_script_errors()


def session_cookies(page: Page) -> dict[str, str]:
    """The browser's `ath` and `rth` (the latter is sent to /api/v1/auth/refresh only, so the page's path cannot read it)."""
    cookies = page.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
    return {cookie["name"]: cookie["value"] for cookie in cookies if cookie["name"] in ("ath", "rth")}


def test_a_session_whose_access_token_is_gone_refreshes_silently_and_its_sockets_renew_in_place(page: Page) -> None:
    sign_up_in_browser(page, "Silent Refresh")
    page.wait_live()
    before = session_cookies(page)
    assert set(before) == {"ath", "rth"}, before
    # What the page sends on its sockets from now on (the open ones included: send is looked up at each call).
    page.driver.execute_script(
        """window.__sameDocument = 'yes'; window.__sent = [];
        const send = WebSocket.prototype.send;
        WebSocket.prototype.send = function (data) { window.__sent.push([this.url, String(data)]); return send.call(this, data); };"""
    )
    # The access token expired: the browser drops a cookie at its Max-Age, as here.
    page.driver.delete_cookie("ath")

    # Submitting needs the session: a 401, a silent refresh, and the same submission again.
    page.find("#score-game option[value='cs']").click()
    page.fill("#score-value", "5")
    page.find("#score-value").send_keys(Keys.ENTER)
    page.wait_text("#score-form .form-message", r"personal best")
    assert page.find("#member-view").is_displayed() and not page.find("#login-form").is_displayed()
    after = session_cookies(page)
    assert after.get("ath") and after["rth"] != before["rth"], "the refresh token was not rotated"

    # Both sockets took the new token in place: the same sockets, still live.
    def renewed(driver: WebDriver) -> set[str]:
        sent = driver.execute_script("return window.__sent")
        return {url.rsplit("/", 1)[-1] for url, data in sent if '"auth"' in data} >= {"scores", "my-score"}

    page.wait(renewed, "the page's sockets were not renewed in place")
    assert page.connection_state() == "live"
    assert page.driver.execute_script("return window.__sameDocument") == "yes", "the page was reloaded"
    page.assert_no_script_errors()


def test_paging_moves_through_the_board_ten_rows_at_a_time(page: Page, api: Api) -> None:
    game, label = "apxleg", "Apex Legends"
    for index in range(11):
        _, auth = new_player(api, f"Pager{index}")
        answer = api.post("/scores", json={"game": game, "score": 1000 + index}, headers=auth)
        assert answer.status_code == 200, answer.text
    sign_up_in_browser(page, "Reader")
    page.wait_live()
    page.select_tab(label)
    page.wait_text("#board-summary", r"^1–10 of [\d,]+ players")
    first_page = [row["userId"] for row in page.board_rows()]
    assert len(first_page) == 10 and page.find("#page-prev").get_attribute("disabled") is not None

    page.find("#page-next").click()
    page.wait_text("#board-summary", r"^11(–\d+)? of ")
    second_page = [row["userId"] for row in page.board_rows()]
    assert second_page and not set(second_page) & set(first_page)
    assert "page=2" in page.driver.current_url
    assert page.find("#page-prev").get_attribute("disabled") is None

    page.find("#page-prev").click()
    page.wait(lambda _: [row["userId"] for row in page.board_rows()] == first_page, "Previous did not bring back the first page")
    page.wait_text("#board-summary", r"^1–10 of ")
    page.assert_no_script_errors()


def test_a_score_sent_while_redis_is_down_is_reported_queued_and_shows_up_once_it_is_back(page: Page, stack: Stack) -> None:
    sign_up_in_browser(page, "Patient")
    page.wait_live()
    page.select_tab("Counter Strike")
    page.wait_text("#board-summary", "updated")
    my_id = requests.get(
        f"{page.base_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {page.cookie_token()}"}, timeout=10
    ).json()["data"]["id"]

    with stack.stopped("redis"):
        page.fill("#score-value", "4242")
        page.find("#score-value").send_keys(Keys.ENTER)
        # 202: stored in PostgreSQL, not yet on the boards; the page says so.
        page.wait_text("#score-form .form-message", "stored.*shortly")
        assert page.find("#score-form .form-message").get_attribute("data-kind") == "success"
        page.save("queued")

    # Redis came back empty; the reconciler rebuilds the boards and the page (reconnecting if it had to) shows the score.
    page.wait(lambda _: page.connection_state() == "live", "the page is not live again", timeout=45)
    page.wait_row(my_id, 4242, "the queued score never appeared on the board")
    assert "mine" in page.row_of(my_id)["class"].split()
    page.assert_no_script_errors()


# --- game settings and the admin page ------------------------------------------------


def test_a_time_game_where_lowest_wins_shows_its_scores_as_minutes_seconds_and_milliseconds(
    page: Page, api: Api, stack: Stack, new_slug: Callable[[str], str]
) -> None:
    _, admin_auth = new_admin(api, stack, "Marshal")
    slug, label = new_slug("sprint"), f"Sprint {uuid.uuid4().hex[:6]}"
    created = api.post(
        "/admin/games",
        json={"slug": slug, "label": label, "order": "asc", "format": "time_ms", "inGlobal": False, "minScore": 1, "maxScore": 3_600_000},
        headers=admin_auth,
    )
    assert created.status_code == 201, created.text
    fast_id, fast_auth = new_player(api, "Fast")
    slow_id, slow_auth = new_player(api, "Slow")
    for auth, milliseconds in ((slow_auth, 90_000), (fast_auth, 83_456)):
        answer = api.post("/scores", json={"game": slug, "score": milliseconds}, headers=auth)
        assert answer.status_code == 200, answer.text

    sign_up_in_browser(page, "Racer")
    page.wait_live()
    page.select_tab(label)
    page.wait_text("#board-ranking", "^lowest wins$")
    assert page.text_of("#board-score-head").lower() == "time"
    fast = page.wait_row(fast_id, 83_456, "the fastest time is not on the board")
    slow = page.wait_row(slow_id, 90_000, "the slower time is not on the board")
    assert "1:23.456" in fast["text"] and fast["rank"] == "1", fast
    assert "1:30.000" in slow["text"] and slow["rank"] == "2", slow

    # The form takes a time as it is shown, and says which end wins.
    page.wait_text("label[for=score-value]", r"time.*m:ss\.mmm.*lowest wins")
    page.fill("#score-value", "1:25.5")
    page.find("#score-value").send_keys(Keys.ENTER)
    page.wait_text("#score-form .form-message", rf"1:25\.500 for {re.escape(label)}.*rank #2 in")
    my_id = requests.get(
        f"{page.base_url}/api/v1/auth/me", headers={"Authorization": f"Bearer {page.cookie_token()}"}, timeout=10
    ).json()["data"]["id"]
    mine = page.wait_row(my_id, 85_500, "the time sent with the form is not on the board")
    assert "1:25.500" in mine["text"] and mine["rank"] == "2", mine
    page.wait(lambda _: page.row_of(slow_id) and page.row_of(slow_id)["rank"] == "3", "the slower time did not move down")
    page.wait_text(f'#standing-rows tr[data-game="{slug}"]', r"#2\s+1:25\.500")
    # A time that is not one is explained by the field, not sent.
    page.fill("#score-value", "fast")
    page.find("#score-value").send_keys(Keys.ENTER)
    page.wait_text("#score-value-error", r"must look like 1:23\.456")

    # The report ranks the best single times, shown the same way.
    page.find(f"#report-game option[value='{slug}']").click()
    page.find("#report-form button[type=submit]").click()
    page.wait(
        lambda driver: driver.execute_script("return Array.from(document.querySelectorAll('#report-rows tr'), (row) => row.dataset.userId)")
        == [str(fast_id), str(my_id), str(slow_id)],
        "the report does not rank the three times fastest first",
    )
    assert "1:23.456" in page.text_of("#report-rows tr:first-child")
    page.wait_text("#report-caption", "lowest wins")
    page.driver.execute_script("window.scrollTo(0, 0)")
    page.settle()
    page.save("time-board")
    page.assert_no_script_errors()


def test_a_player_sees_no_admin_page(page: Page) -> None:
    sign_up_in_browser(page, "Plain Player")
    page.wait_role("player")
    assert not page.find("#admin-link").is_displayed()
    # Asking for it by address shows the boards instead, on a fresh load and in the open page.
    page.driver.get("about:blank")
    page.driver.get(f"{page.base_url}/#admin")
    page.wait_role("player")
    page.wait_board("all")
    assert page.find("#boards").is_displayed() and not page.find("#admin-view").is_displayed()
    assert not page.find("#admin-link").is_displayed()
    assert "admin" not in page.driver.current_url
    page.driver.execute_script("location.hash = 'admin'")
    page.wait(lambda driver: "admin" not in driver.current_url, "the address kept #admin")
    assert page.find("#boards").is_displayed() and not page.find("#admin-view").is_displayed()
    page.assert_no_script_errors()


def test_an_admin_creates_and_edits_a_game_in_the_admin_page_and_sees_errors_by_their_fields(
    page: Page, api: Api, stack: Stack, stack_env: dict[str, str], new_slug: Callable[[str], str]
) -> None:
    email, _ = new_admin(api, stack, "Ops")
    log_in_in_browser(page, email, "Ops")
    page.wait_role("admin")
    page.visible("#admin-link").click()
    page.visible("#admin-view")
    assert not page.find("#boards").is_displayed()

    # A slug the API refuses: its error is shown by the slug field, and nothing is made.
    page.fill("#game-slug", "Not A Slug")
    page.fill("#game-label", "Kart")
    page.find("#game-form button[type=submit]").click()
    page.wait_text("#game-slug-error", "slug")
    assert page.find("#game-slug").get_attribute("aria-invalid") == "true"

    slug, label = new_slug("kart"), f"Kart {uuid.uuid4().hex[:6]}"
    page.fill("#game-slug", slug)
    page.fill("#game-label", label)
    page.fill("#game-position", "500")
    page.find("#game-order option[value='asc']").click()
    assert not page.find("#game-in-global").is_selected(), "a lower-is-better game started in the global board"
    page.find("#game-rule option[value='best']").click()
    page.find("#game-tie-break option[value='earliest']").click()
    page.fill("#game-min-score", "1000")
    page.fill("#game-max-score", "600000")
    page.find("#game-format option[value='time_ms']").click()
    page.find("#game-authoritative").click()
    page.find("#game-form button[type=submit]").click()
    page.wait_text("#game-form .form-message", f"created {re.escape(label)}")
    assert page.find("#game-slug-error").is_displayed() is False
    settings = api.get(f"/games/{slug}").json()["data"]
    assert settings == {
        "slug": slug, "label": label, "position": 500, "order": "asc", "rule": "best", "minScore": 1000, "maxScore": 600_000,
        "tieBreak": "earliest", "inGlobal": False, "format": "time_ms", "authoritative": True, "archived": False,
    }
    page.wait(lambda _: page.find(f'#admin-game-rows tr[data-slug="{slug}"]'), "the new game is not listed")
    page.save("admin")

    # On the boards it is a tab at once, and its board says how it ranks.
    page.find("#boards-link").click()
    page.visible("#boards")
    page.select_tab(label)
    page.wait_text("#board-ranking", "lowest wins")

    # Edited from its row: a new name and tie-break.
    page.visible("#admin-link").click()
    page.visible(f'#admin-game-rows tr[data-slug="{slug}"] button').click()
    page.wait_text("#game-form-title", f"edit {re.escape(label)}")
    assert page.find("#game-slug").get_attribute("readonly") is not None
    renamed = f"{label} Deluxe"
    page.fill("#game-label", renamed)
    page.find("#game-tie-break option[value='shared']").click()
    page.fill("#game-reason", "a clearer name")
    page.find("#game-form button[type=submit]").click()
    page.wait_text("#game-form .form-message", f"saved {re.escape(renamed)}")
    settings = api.get(f"/games/{slug}").json()["data"]
    assert (settings["label"], settings["tieBreak"], settings["minScore"]) == (renamed, "shared", 1000), settings
    audit = run_sql(stack_env, "SELECT action, reason FROM audit_log WHERE target = :'slug' ORDER BY id", slug=slug)
    assert audit == [["game.create", ""], ["game.update", "a clearer name"]], audit

    # A lowest score above the highest: the API's error by the field it names, and nothing changes.
    page.fill("#game-min-score", "700000")
    page.find("#game-form button[type=submit]").click()
    page.wait_text("#game-min-score-error", "^lowest score must not be above maxScore")
    assert page.find("#game-min-score").get_attribute("aria-invalid") == "true"
    assert page.find("#game-form .form-message").get_attribute("data-kind") == "error"
    assert page.driver.switch_to.active_element == page.find("#game-min-score")
    assert api.get(f"/games/{slug}").json()["data"]["minScore"] == 1000

    page.find("#boards-link").click()
    page.select_tab(renamed)


# --- trust and safety on the admin page (issue 21) ------------------------------


def new_moderated_game(api: Api, admin_auth: dict[str, str], slug: str) -> str:
    """A game of its own (best score counts), so that the board the page shows holds only this test's players."""
    response = api.post("/admin/games", json={"slug": slug, "label": f"Mod {slug[-6:]}", "inGlobal": False}, headers=admin_auth)
    assert response.status_code == 201, response.text
    return response.json()["data"]["label"]


def submit_score(api: Api, auth: dict[str, str], game: str, score: int) -> None:
    response = api.post("/scores", json={"game": game, "score": score}, headers=auth)
    assert response.status_code == 200, response.text


def open_player_in_admin_page(page: Page, email: str, name: str) -> None:
    page.visible("#admin-link").click()
    page.visible("#admin-view")
    page.fill("#player-query", email)
    page.find("#player-search-form button[type=submit]").click()
    page.visible("#player-rows button[data-user-id]").click()
    page.wait_text("#player-title", re.escape(name))
    page.wait(lambda _: page.find("#player-form").get_attribute("aria-busy") is None, "the player's scores never loaded")


def audit_rows(page: Page) -> list[tuple[str, str, str]]:
    return [
        tuple(row)
        for row in page.driver.execute_script(
            """return Array.from(document.querySelectorAll("#audit-rows tr"),
                (row) => [row.dataset.action, row.dataset.target, row.cells[4].innerText]);"""
        )
    ]


def test_an_admin_bans_and_unbans_a_player_from_the_admin_page_and_the_board_follows(
    page: Page, api: Api, stack: Stack, new_slug: Callable[[str], str]
) -> None:
    email, admin_auth = new_admin(api, stack, "Moderator")
    game = new_slug("mod")
    label = new_moderated_game(api, admin_auth, game)
    cheater_id, cheater_auth = new_player(api, "Cheater")
    honest_id, honest_auth = new_player(api, "Honest")
    submit_score(api, cheater_auth, game, 999_999)
    submit_score(api, honest_auth, game, 40)
    cheater_email = api.get("/auth/me", headers=cheater_auth).json()["data"]["email"]

    log_in_in_browser(page, email, "Moderator")
    page.wait_role("admin")
    page.select_tab(label)
    page.wait_row(cheater_id, 999_999, "the cheater is not on the board")

    open_player_in_admin_page(page, cheater_email, "Cheater")
    assert page.text_of("#player-status") == "Active."
    # No reason: the page says so by the field and asks nothing of the API.
    page.find("#player-ban").click()
    page.wait_text("#player-reason-error", "reason is required")
    assert page.find("#player-reason").get_attribute("aria-invalid") == "true"
    assert api.get("/auth/me", headers=cheater_auth).status_code == 200, "the ban went out without a reason"

    page.fill("#player-reason", "impossible score")
    page.find("#player-ban").click()
    page.wait_text("#player-form .form-message", "^banned cheater")
    page.wait_text("#player-status", "^banned: impossible score")
    assert page.find("#player-reason-error").is_displayed() is False
    assert page.text_of(f'#player-rows tr[data-user-id="{cheater_id}"]').find("Banned") >= 0
    assert api.get("/auth/me", headers=cheater_auth).status_code == 401, "the banned player's token still works"

    page.find("#boards-link").click()
    page.select_tab(label)
    page.wait_row(honest_id, 40, "the honest player left the board too")
    page.wait(lambda _: page.row_of(cheater_id) is None, f"the banned player stayed on the board ({page.board_rows()})")
    assert page.row_of(honest_id)["rank"] == "1"

    page.visible("#admin-link").click()
    page.wait_text("#player-ban", "^unban$")
    page.fill("#player-reason", "appeal upheld")
    page.find("#player-ban").click()
    page.wait_text("#player-form .form-message", "^unbanned cheater")
    assert page.text_of("#player-status") == "Active."
    page.wait(lambda _: audit_rows(page)[:2] == [
        ("user.unban", f"user:{cheater_id}", "appeal upheld"),
        ("user.ban", f"user:{cheater_id}", "impossible score"),
    ], f"the audit log does not list the ban and the unban first ({audit_rows(page)[:3]})")

    page.find("#boards-link").click()
    page.select_tab(label)
    page.wait_row(cheater_id, 999_999, "the unbanned player did not come back")
    assert page.row_of(cheater_id)["rank"] == "1"
    page.assert_no_script_errors()


def test_an_admin_deletes_and_restores_a_score_from_the_admin_page_and_the_board_follows(
    page: Page, api: Api, stack: Stack, new_slug: Callable[[str], str]
) -> None:
    email, admin_auth = new_admin(api, stack, "Cleaner")
    game = new_slug("mod")
    label = new_moderated_game(api, admin_auth, game)
    player_id, player_auth = new_player(api, "Glitcher")
    submit_score(api, player_auth, game, 300)
    submit_score(api, player_auth, game, 888_888)
    player_email = api.get("/auth/me", headers=player_auth).json()["data"]["email"]
    scores = api.get(f"/admin/users/{player_id}/scores", headers=admin_auth).json()["data"]["result"]
    glitch = next(score["id"] for score in scores if score["score"] == 888_888)

    log_in_in_browser(page, email, "Cleaner")
    page.wait_role("admin")
    page.select_tab(label)
    page.wait_row(player_id, 888_888, "the glitched score is not on the board")

    open_player_in_admin_page(page, player_email, "Glitcher")
    row = f'#player-score-rows tr[data-score-id="{glitch}"]'
    page.wait_text(row, "counts")
    page.find(f"{row} button").click()
    page.wait_text("#player-reason-error", "reason is required")

    page.fill("#player-reason", "a glitch")
    page.find(f"{row} button").click()
    page.wait_text("#player-form .form-message", "^deleted the score 888,888")
    page.wait_text(row, "deleted by .+: a glitch")
    assert page.find(row).get_attribute("data-deleted") == "true"
    assert page.text_of(f"{row} button") == "Restore"
    page.save("admin-moderation")

    page.find("#boards-link").click()
    page.select_tab(label)
    page.wait_row(player_id, 300, "the board did not fall back to the remaining score")

    page.visible("#admin-link").click()
    page.fill("#player-reason", "not a glitch after all")
    page.find(f"{row} button").click()
    page.wait_text("#player-form .form-message", "^restored the score 888,888")
    page.wait_text(row, "counts")
    page.wait(lambda _: audit_rows(page)[:2] == [
        ("score.restore", f"score:{glitch}", "not a glitch after all"),
        ("score.delete", f"score:{glitch}", "a glitch"),
    ], f"the audit log does not list the deletion and the restore first ({audit_rows(page)[:3]})")

    page.find("#boards-link").click()
    page.select_tab(label)
    page.wait_row(player_id, 888_888, "the restored score did not come back")
    page.assert_no_script_errors()


def key_rows(page: Page) -> list[str]:
    """The keys' rows, read in one go: the list is drawn again whenever the page reloads it."""
    return page.driver.execute_script('return Array.from(document.querySelectorAll("#key-rows tr"), (row) => row.innerText);')


def test_an_admin_creates_an_api_key_sees_it_once_and_revokes_it(page: Page, api: Api, stack: Stack) -> None:
    email, admin_auth = new_admin(api, stack, "Keeper")
    if api.get("/admin/api-keys", headers=admin_auth).status_code == 404:
        pytest.skip("this build has no API keys yet (branch r-keys)")
    log_in_in_browser(page, email, "Keeper")
    page.wait_role("admin")
    page.visible("#admin-link").click()
    page.visible("#key-form")

    # A game the API does not know: its error by the games field, and no key.
    name = f"server {uuid.uuid4().hex[:8]}"
    page.fill("#key-name", name)
    page.fill("#key-games", "no-such-game-here")
    page.find("#key-form button[type=submit]").click()
    page.wait_text("#key-games-error", "unknown games: 'no-such-game-here'")
    assert page.find("#key-games").get_attribute("aria-invalid") == "true"

    page.fill("#key-games", "cod")
    page.find("#key-form button[type=submit]").click()
    page.wait_text("#key-form .form-message", f"created the key {re.escape(name)}")
    key = page.visible("#new-key-value").text
    assert len(key) >= 20, key
    listed = page.wait(lambda _: next((text for text in key_rows(page) if name in text), False), "the new key is not listed")
    assert "cod" in listed and "Active" in listed and key not in listed, listed
    page.find("#new-key-copy").click()
    page.wait_text("#new-key-copied", "copied|ctrl\\+c")

    # The key works for its game, once: a fresh load of the page never shows it again.
    player_id, _ = new_player(api, "Served")
    served = api.post("/scores", json={"game": "cod", "score": 7, "userId": player_id}, headers={"Authorization": f"Bearer {key}"})
    assert served.status_code == 200, served.text
    page.driver.refresh()
    page.wait_role("admin")
    page.visible("#key-form")
    assert not page.find("#new-key").is_displayed()
    assert key not in page.driver.page_source

    key_id = next(item["id"] for item in api.get("/admin/api-keys", headers=admin_auth).json()["data"] if item["name"] == name)
    page.click(f'#key-rows button[data-key-id="{key_id}"]')
    page.wait(lambda _: any(name in text and "Revoked" in text for text in key_rows(page)), f"the key is not shown revoked ({key_rows(page)})")
    refused = api.post("/scores", json={"game": "cod", "score": 8, "userId": player_id}, headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 401, refused.text
    page.assert_no_script_errors()


# --- the API docs (/docs) -----------------------------------------------------


def operations_in_openapi() -> set[tuple[str, str]]:
    """Every (METHOD, path) openapi.yaml describes, paths as it writes them (under the server's /api/v1)."""
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item if method in methods}


def open_docs(page: Page) -> set[tuple[str, str]]:
    """Opens /docs and waits for Swagger UI to list the operations; returns those it lists."""
    page.driver.get(f"{page.base_url}/docs/")
    expected = len(operations_in_openapi())

    def listed(driver: WebDriver) -> set[tuple[str, str]] | bool:
        operations = driver.execute_script(
            """return Array.from(document.querySelectorAll(".opblock"), (block) => [
                block.querySelector(".opblock-summary-method").innerText,
                block.querySelector(".opblock-summary-path").dataset.path]);"""
        )
        return len(operations) >= expected and {(method, path) for method, path in operations}

    return page.wait(listed, f"/docs never listed the {expected} operations of openapi.yaml")


def try_it_out(page: Page, operation: str, body: str | None = None) -> tuple[int, str]:
    """Runs one operation (`tag-operationId`, Swagger UI's element id) with "Try it out", as a person
    would: expand it, Try it out, type the body, Execute. Returns the status and body the page shows."""
    block = f"#operations-{operation}"
    page.visible(f"{block} .opblock-summary-control").click()
    page.visible(f"{block} .try-out__btn").click()
    if body is not None:
        editor = page.visible(f"{block} textarea.body-param__text")
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys(Keys.DELETE)
        editor.send_keys(body)
    page.visible(f"{block} .btn.execute").click()
    status = page.wait_text(f"{block} .live-responses-table tr.response .response-col_status", r"^\d{3}")
    shown = page.visible(f"{block} .live-responses-table tr.response .response-col_description pre").text
    return int(status[:3]), shown


def test_the_api_docs_list_every_route_and_try_it_out_logs_in_and_then_uses_the_cookie(page: Page, api: Api) -> None:
    email = unique_email("docs")
    signup = api.post("/auth/signup", json={"email": email, "name": "Docs Reader", "password": PASSWORD})
    assert signup.status_code == 201, signup.text

    listed = open_docs(page)
    assert listed == operations_in_openapi(), f"/docs lists {sorted(listed)}"
    page.assert_no_script_errors()
    # Everything the page loaded came from the stack: no CDN, so it works offline.
    loaded = page.driver.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
    assert loaded and all(url.startswith(f"{page.base_url}/docs/") for url in loaded), loaded

    status, shown = try_it_out(page, "auth-login", f'{{"email": "{email}", "password": "{PASSWORD}"}}')
    assert status == 200, shown
    assert email in shown
    # Nothing typed into Authorize: the ath cookie the login set is what authenticates this call.
    status, shown = try_it_out(page, "auth-me")
    assert status == 200, shown
    assert "Docs Reader" in shown and email in shown
    page.assert_no_script_errors()


def test_the_api_docs_send_the_bearer_token_pasted_into_authorize(page: Page, api: Api) -> None:
    user_id, auth = new_player(api, "Bearer")
    open_docs(page)
    # Without a token, the protected route says so.
    status, shown = try_it_out(page, "boards-getStanding")
    assert status == 401, shown

    page.visible(".auth-wrapper .btn.authorize").click()
    token_field = page.visible(".modal-ux .auth-container input[type=text]")
    token_field.send_keys(auth["Authorization"].removeprefix("Bearer "))
    page.visible(".modal-ux .auth-btn-wrapper .btn.authorize").click()
    page.visible(".modal-ux .btn-done").click()

    page.find("#operations-boards-getStanding .btn.execute").click()
    page.wait_text("#operations-boards-getStanding .live-responses-table tr.response .response-col_status", r"^200")
    shown = page.visible("#operations-boards-getStanding .live-responses-table tr.response .response-col_description pre").text
    assert f'"userId": {user_id}' in shown, shown
    page.assert_no_script_errors()
