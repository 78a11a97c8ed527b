"""Fixtures of the console's end-to-end tests: Debian's headless Chromium driven by Playwright
against the real stack (the session's `running_stack`), and staff accounts that log in with real
TOTP codes.

Accounts are made the way an operator makes them: the first ministry admin with the ops admin CLI,
every other account through `POST /v1/accounts`. Each test uses its own accounts and units (unique
names), so tests never depend on each other and share the stack.

TOTP: the server accepts one 30-second step of drift either way and never the same step twice per
account, so `Authenticator.code()` hands out the oldest step still accepted that has not been used
yet, and waits for the clock only when an account needs more than three codes within a minute.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from stack.launcher import REPO_ROOT, Stack
from tests.console.knowledge import SampleDocument
from tests.support import unique_unit

CHROMIUM = Path(os.environ.get("TROLYAO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1280, "height": 860}
# The most common office laptop screen: pages must fit it without sideways scrolling.
OFFICE_LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TOTP_STEP_SECONDS = 30
ALLOWED_DRIFT_STEPS = 1
HTTP_TIMEOUT_SECONDS = 60.0
INDEX_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 0.25
ADMIN_CLI_TIMEOUT_SECONDS = 60.0
# Step-up freshness on the server is 300 s; renew well before.
STEP_UP_RENEW_SECONDS = 200.0
PAGE_TIMEOUT_MS = 30_000
MANUAL_SECRET = re.compile(r"khóa thủ công: (\S+)")
# `make screenshots` sets this to docs/console; otherwise screenshots go to the test's temp dir.
SCREENSHOT_DIR_ENV = "TROLYAO_CONSOLE_SCREENSHOTS"


class Authenticator:
    """A phone's authenticator app for one account: fresh codes, never a step used before."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._totp = pyotp.TOTP(secret)
        self._last_step = 0

    def code(self) -> str:
        """The code for the oldest step the server still accepts and this account has not used."""
        now_step = int(time.time() // TOTP_STEP_SECONDS)
        step = max(self._last_step + 1, now_step - ALLOWED_DRIFT_STEPS)
        while step > int(time.time() // TOTP_STEP_SECONDS) + ALLOWED_DRIFT_STEPS:
            time.sleep(0.5)  # every accepted step is used: wait for the clock (rare)
        self._last_step = step
        return self._totp.generate_otp(step)


@dataclass
class StaffAccount:
    """A person's account and what they hold: password, authenticator, tokens."""

    username: str
    password: str
    role: str
    units: list[str]
    authenticator: Authenticator | None = None
    access_token: str = ""
    otp_at: float = 0.0
    recovery_codes: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


class StaffDirectory:
    """Makes units and staff accounts on the running stack, as an operator would."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.gateway_url, timeout=HTTP_TIMEOUT_SECONDS)
        self.bootstrap = {"Authorization": f"Bearer {stack.api_key}"}
        self.admin = self._first_admin()

    def close(self) -> None:
        self.http.close()

    # ---------------------------------------------------------------- units and knowledge

    def new_unit(self, prefix: str = "con") -> str:
        unit = unique_unit(prefix)
        reply = self.http.put(
            f"/v1/units/{unit}", json={"name": f"Đơn vị thử {unit}"}, headers=self.bootstrap
        )
        assert reply.status_code == 201, reply.text
        return unit

    def put_document(self, unit: str, document_id: str, *, title: str, text: str) -> dict[str, object]:
        """Send a document through the API and wait until it is indexed."""
        return self.put_documents(unit, [SampleDocument(document_id, title, text)])[0]

    def put_documents(self, unit: str, documents: Sequence[SampleDocument]) -> list[dict[str, object]]:
        """Send documents through the API (ids percent-encoded), then wait until all are indexed."""
        paths = [f"/v1/units/{unit}/documents/{quote(d.document_id, safe='')}" for d in documents]
        for path, document in zip(paths, documents, strict=True):
            reply = self.http.put(
                path, json={"title": document.title, "text": document.text}, headers=self.bootstrap
            )
            assert reply.status_code == 202, reply.text
        return [self.wait_settled(path) for path in paths]

    def wait_settled(self, path: str) -> dict[str, object]:
        deadline = time.monotonic() + INDEX_TIMEOUT_SECONDS
        last: dict[str, object] = {}
        while time.monotonic() < deadline:
            reply = self.http.get(path, headers=self.bootstrap)
            if reply.status_code == 200:
                last = reply.json()
                if last["status"] != "queued":
                    assert last["status"] == "indexed", last
                    return last
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"{path} still pending: {last}")

    def ask(self, unit: str, question: str) -> dict[str, object]:
        reply = self.http.post(f"/v1/units/{unit}/ask", json={"question": question}, headers=self.bootstrap)
        assert reply.status_code == 200, reply.text
        return dict(reply.json())

    # ---------------------------------------------------------------- accounts

    def _first_admin(self) -> StaffAccount:
        """A ministry admin made with the ops CLI (break-glass `--additional`: the stack is shared)."""
        account = StaffAccount(
            username=f"qt.console.{secrets.token_hex(3)}",
            password=secrets.token_urlsafe(18),
            role="ministry_admin",
            units=[],
        )
        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.ops.identity.entrypoints.admin_cli",
                "create-admin",
                "--username",
                account.username,
                "--display-name",
                "Quản trị kiểm thử bảng điều khiển",
                "--password-stdin",
                "--additional",
            ],
            input=account.password + "\n",
            capture_output=True,
            text=True,
            env=self.stack.environment(),
            cwd=REPO_ROOT,
            timeout=ADMIN_CLI_TIMEOUT_SECONDS,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        found = MANUAL_SECRET.search(created.stdout)
        assert found, created.stdout
        account.authenticator = Authenticator(found.group(1))
        self._enrol_over_http(account, start=False)
        return account

    def create(self, role: str, units: list[str], *, enrol: bool = True) -> StaffAccount:
        """An account made by the admin through the API; its authenticator enrolled if `enrol`."""
        self._fresh_admin()
        username = f"cb.{secrets.token_hex(4)}"
        reply = self.http.post(
            "/v1/accounts",
            json={"username": username, "display_name": "Cán bộ thử", "role": role, "units": units},
            headers=self.admin.headers,
        )
        assert reply.status_code == 201, reply.text
        account = StaffAccount(
            username=username, password=reply.json()["initial_password"], role=role, units=units
        )
        if enrol:
            self._enrol_over_http(account, start=True)
        return account

    def _enrol_over_http(self, account: StaffAccount, *, start: bool) -> None:
        step = self.http.post(
            "/v1/auth/login", json={"username": account.username, "password": account.password}
        )
        assert step.status_code == 200, step.text
        assert step.json()["next"] == "enrol", step.text
        challenge = step.json()["challenge_id"]
        if start:
            started = self.http.post("/v1/auth/enrolment/start", json={"challenge_id": challenge})
            assert started.status_code == 200, started.text
            account.authenticator = Authenticator(started.json()["secret"])
        assert account.authenticator is not None
        confirmed = self.http.post(
            "/v1/auth/enrolment/confirm",
            json={"challenge_id": challenge, "code": account.authenticator.code()},
        )
        assert confirmed.status_code == 200, confirmed.text
        account.access_token = confirmed.json()["tokens"]["access_token"]
        account.recovery_codes = confirmed.json()["recovery_codes"]
        account.otp_at = time.time()

    def _fresh_admin(self) -> None:
        """Account changes need an OTP entered within five minutes: step up when it is older."""
        if time.time() - self.admin.otp_at < STEP_UP_RENEW_SECONDS:
            return
        assert self.admin.authenticator is not None
        stepped = self.http.post(
            "/v1/auth/step-up", json={"code": self.admin.authenticator.code()}, headers=self.admin.headers
        )
        assert stepped.status_code == 200, stepped.text
        self.admin.access_token = stepped.json()["access_token"]
        self.admin.otp_at = time.time()


# -------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def staff(running_stack: Stack) -> Iterator[StaffDirectory]:
    directory = StaffDirectory(running_stack)
    try:
        yield directory
    finally:
        directory.close()


@pytest.fixture(scope="session")
def console_url(running_stack: Stack) -> str:
    return running_stack.gateway_url + "/console/"


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread while
# it is open, and tests of other modules that call asyncio.run() would fail beside it.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: `make setup` installs Debian's chromium (deploy/apt-packages.txt)"
        )
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (never a browser downloaded by Playwright)."""
    chromium = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
    )
    try:
        yield chromium
    finally:
        chromium.close()


VIETNAM_TIME_ZONE = "Asia/Ho_Chi_Minh"


def _new_page(
    browser: Browser, viewport: dict[str, int], time_zone: str = VIETNAM_TIME_ZONE
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=viewport, locale="vi-VN", timezone_id=time_zone)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    return context, context.new_page()


def _page_at(
    browser: Browser, viewport: dict[str, int], time_zone: str = VIETNAM_TIME_ZONE
) -> Iterator[Page]:
    context, opened = _new_page(browser, viewport, time_zone)
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile (no session) at laptop size."""
    yield from _page_at(browser, LAPTOP)


@pytest.fixture
def office_page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile at 1,366 × 768 whose clock runs in UTC (an official travelling, or
    a misconfigured PC): the console must still show Vietnam time."""
    yield from _page_at(browser, OFFICE_LAPTOP, "UTC")


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A fresh browser profile at a narrow phone's size."""
    yield from _page_at(browser, PHONE)


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wanted = os.environ.get(SCREENSHOT_DIR_ENV, "")
    directory = (REPO_ROOT / wanted) if wanted else tmp_path_factory.mktemp("console-screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def log_in(page: Page, console_url: str, account: StaffAccount) -> None:
    """Password, then a fresh TOTP code, through the console's own login form."""
    assert account.authenticator is not None
    page.goto(console_url)
    page.get_by_label("Tên đăng nhập").fill(account.username)
    page.get_by_label("Mật khẩu").fill(account.password)
    page.get_by_role("button", name="Tiếp tục").click()
    page.get_by_label("Mã OTP").fill(account.authenticator.code())
    page.get_by_role("button", name="Đăng nhập").click()
    page.get_by_role("button", name="Đăng xuất").wait_for()
