"""The operator console in a real browser (Playwright driving Debian's chromium): sign in,
watch a burst arrive live, filter the jobs table, open a failed job and retry it, pause and
resume a queue, survive an expired session, and check every effect through the API. A
screenshot at 800 px is saved under var/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect, sync_playwright

from lms.config import get_settings
from lms.db import session_scope
from lms.jobs.fanout import enqueue_many
from lms.jobs.models import JobStatus
from lms.jobs.service import enqueue
from lms.models import utcnow
from lms.users import passwords
from lms.users.models import Role, User
from tests.admin.helpers import DASHBOARD, STATS, reset_queue_states, stats_of
from tests.faults.support import statuses
from tests.support import ROOT, JobWatcher, start_worker

PASSWORD = "console-Passw0rd-long"
# Without `lms monitor` the page refreshes its counts every 5 s: the burst must outlast
# several refreshes to be seen climbing, and jobs now run at 150-200 per second here.
GOOD, BROKEN = 5000, 10
AUDIT = "{ adminAuditLog(limit: 5) { action subjectId } }"
# Records every value the succeeded cell of `default` shows from now on.
SEEN_COUNTS = """() => {
  window.seenSucceeded = [];
  const cell = () => document.querySelector('#queues tr[data-queue="default"] > :nth-child(8)');
  new MutationObserver(() => {
    const text = cell() && cell().textContent;
    if (text && text !== window.seenSucceeded.at(-1)) window.seenSucceeded.push(text);
  }).observe(document.querySelector("#queues"),
             {subtree: true, childList: true, characterData: true});
}"""
# The processed counts of the workers table, summed (the 7th column).
PROCESSED = """() => [...document.querySelectorAll("#workers tbody tr")]
  .reduce((total, tr) => total + (parseInt(tr.children[6]?.textContent) || 0), 0)"""
JOBS = "query($f: JobFilter) { jobs(filter: $f) { total items { id status attempts } } }"


def make_user(role: Role) -> User:
    settings = get_settings()
    with session_scope() as session:
        user = User(
            email=f"{role.value.lower()}-{datetime.now().timestamp():.0f}@example.test",
            name="Console Tester",
            role=role,
            password_hash=passwords.hash_password(PASSWORD, settings),
            email_verified_at=utcnow(),
        )
        session.add(user)
        session.flush()
        session.expunge(user)
    return user


@pytest.fixture(scope="module")
def admin(api):
    reset_queue_states()
    user = make_user(Role.ADMIN)
    token = api.data(
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        {"i": {"email": user.email, "password": PASSWORD}},
    )["login"]["accessToken"]
    yield user, token
    reset_queue_states()


@pytest.fixture(scope="module")
def worker():
    process = start_worker("default", concurrency=2)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def page(api):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        context = browser.new_context(timezone_id="UTC", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)
        yield page
        browser.close()


def sign_in(page, user: User) -> None:
    form = page.get_by_role("form", name="Sign in")
    form.get_by_label("Email").fill(user.email)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#whoami")).to_contain_text(user.email)


def queue_cell(page, queue: str, column: int):
    return page.locator(f'#queues tr[data-queue="{queue}"] > :nth-child({column})')


def default_counts(api, token) -> dict:
    queues = api.data(DASHBOARD, None, token)["jobDashboard"]["queues"]
    return next(q for q in queues if q["queueName"] == "default")["stats"]


def test_an_operator_works_the_console(api, admin, worker, page):
    user, token = admin
    page.goto(api.base_url + "/admin/queues")
    sign_in(page, user)
    expect(page.locator("#whoami")).to_contain_text("admin")

    # A burst of thousands, seen live: the queue's succeeded count climbs through the burst
    # (the page never freezes waiting for a quiet moment) and reaches the totals without a
    # reload; every value it showed was a count the jobs really passed through.
    before = default_counts(api, token)
    started = datetime.now(UTC) - timedelta(seconds=1)
    first_worker = page.locator("#workers tbody tr").first.locator("td").nth(6)
    expect(first_worker).to_have_text(re.compile(r"^\d+$"))
    processed = page.evaluate(PROCESSED)
    page.evaluate(SEEN_COUNTS)
    with JobWatcher() as watcher:
        with session_scope() as session:
            good = enqueue_many(session, "system.noop", [{}] * GOOD)
            broken = [
                str(enqueue(session, "system.noop", {"steps": "x"}).id) for _ in range(BROKEN)
            ]
        total = str(before["succeeded"] + GOOD)
        expect(queue_cell(page, "default", 8)).to_have_text(total, timeout=240_000)
        expect(queue_cell(page, "default", 9)).to_have_text(str(before["failed"] + BROKEN))
        for job_id in broken:
            watcher.wait(job_id)
    after = default_counts(api, token)
    assert (after["succeeded"], after["failed"]) == (
        before["succeeded"] + GOOD,
        before["failed"] + BROKEN,
    )
    assert statuses(good) == {JobStatus.SUCCEEDED: GOOD}
    # The workers table agrees: its processed count grew by exactly the burst.
    page.wait_for_function(
        "(target) => (" + PROCESSED + ")() >= target",
        arg=processed + GOOD + BROKEN,
        timeout=120_000,
    )
    assert page.evaluate(PROCESSED) == processed + GOOD + BROKEN
    seen = [int(text) for text in page.evaluate("window.seenSucceeded")]
    assert seen == sorted(seen)
    during = {count for count in seen if before["succeeded"] < count < after["succeeded"]}
    assert len(during) >= 3, seen  # updates kept arriving while the burst ran

    # Filter the jobs table: this burst's failures on `default`.
    filters = page.get_by_role("form", name="Job filters")
    filters.get_by_label("Queue").select_option("default")
    filters.get_by_label("Status").select_option("FAILED")
    filters.get_by_label("Error code").fill("INTERNAL_ERROR")
    filters.get_by_label("From").fill(started.strftime("%Y-%m-%dT%H:%M:%S"))
    filters.get_by_role("button", name="Filter").click()
    expect(page.locator("#jobs-summary")).to_have_text(f"1–{BROKEN} of {BROKEN} jobs")
    shown = set(
        page.locator("#jobs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.jobId)")
    )
    assert shown == set(broken)
    listed = api.data(
        JOBS,
        {
            "f": {
                "queueName": "default",
                "status": "FAILED",
                "errorCode": "INTERNAL_ERROR",
                "createdAfter": started.isoformat(),
            }
        },
        token,
    )["jobs"]
    assert {j["id"] for j in listed["items"]} == set(broken)

    # Open a failed job: error, traceback (an admin), events; then retry it.
    failed = broken[0]
    page.get_by_role("button", name=f"Open job {failed}").click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(page.locator("#d-error")).to_contain_text("INTERNAL_ERROR")
    expect(page.locator("#d-trace")).to_contain_text("ValueError")
    expect(page.locator("#d-events tbody")).to_contain_text("FAILED")
    with JobWatcher() as watcher:
        page.get_by_role("button", name="Retry this job").click()
        expect(page.locator("#status")).to_contain_text(f"job {failed[:8]} retried")
        assert watcher.wait(failed, ("FAILED",))["attempt"] == 2  # the payload is still broken
    audit = api.data(AUDIT, None, token)["adminAuditLog"]
    assert (audit[0]["action"], audit[0]["subjectId"]) == ("admin.jobs.retry", failed)
    expect(page.locator("#audit tbody")).to_contain_text("jobs.retry")

    # Pause and resume `default`; the page says done only once the API did it.
    page.get_by_role("button", name="Pause default").click()
    expect(page.locator("#status")).to_contain_text("pause default: done")
    expect(queue_cell(page, "default", 11)).to_have_text("paused")
    assert stats_of(api.data(STATS, None, token)["realtimeQueueStats"], "default")["paused"]
    page.get_by_role("button", name="Resume default").click()
    expect(page.locator("#status")).to_contain_text("resume default: done")
    expect(queue_cell(page, "default", 11)).to_have_text("running")
    assert not stats_of(api.data(STATS, None, token)["realtimeQueueStats"], "default")["paused"]

    # The screenshot at 800 px, the narrowest layout the console supports.
    page.set_viewport_size({"width": 800, "height": 1000})
    (ROOT / "var").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "var" / "console-800px.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 800


def test_an_expired_session_says_so_and_signs_in_again(api, admin, worker, page):
    user, token = admin
    # A session of its own, not the one the earlier test left in the tab's storage: only
    # the dead token below may take this page back to the sign-in form.
    page.goto(api.base_url + "/admin/queues")
    page.evaluate("stop(); sessionStorage.clear()")
    page.reload()
    sign_in(page, user)
    pause = page.get_by_role("button", name="Pause default")
    expect(pause).to_be_visible()
    expect(pause).to_be_enabled()
    # The access token dies and no refresh token is left: the next action cannot go through.
    # The page's redraw loop and subscriptions stop first (as at sign-out), or a background
    # refresh can meet the dead token before the click and take the page to sign-in itself.
    page.evaluate("stop(); session.accessToken = 'expired'; session.refreshToken = null")
    pause.click()
    expect(page.get_by_role("alert")).to_contain_text("Your session expired")
    expect(page.get_by_role("alert")).to_contain_text("pause default")
    expect(page.locator("#signin")).to_be_visible()
    assert not stats_of(api.data(STATS, None, token)["realtimeQueueStats"], "default")["paused"]
    sign_in(page, user)
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(page.locator("#updated")).to_have_text(re.compile(r"updated \d"))


def test_a_read_only_operator_sees_the_controls_disabled(api, admin, page):
    operator = make_user(Role.OPERATOR)
    page.goto(api.base_url + "/admin/queues")
    if page.locator("#signout").is_visible():
        page.get_by_role("button", name="Sign out").click()
    sign_in(page, operator)
    expect(page.locator("#whoami")).to_contain_text("read-only operator")
    expect(page.get_by_role("button", name="Pause default")).to_be_disabled()
    expect(page.get_by_role("button", name="Clear default")).to_be_disabled()
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    expect(page.locator("#status")).to_have_text("signed out")
