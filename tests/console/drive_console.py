"""Drives the web console of a running `personio-lms serve` in headless Chromium, as an HR admin
would: sign in, create an integration (first with a wrong field, whose error must show beside
it), run the check, make a plan, save & sync, open the run and find an employee, explain that
employee from the integration's lookup box, push a certificate through the API and see it
arrive, rotate a credential and find it on the audit trail. Screenshots of the main pages go to
--screenshots.

Started by cli/tests/serve.rs, which runs the server, the Personio sandbox and the independent
SCIM server. Everything is on 127.0.0.1. Exit 0 when every step passed; a failed step raises.
"""

import argparse
import base64
import json
import pathlib
import sys
import tempfile
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 30

# A one-page PDF (the pusher checks the magic and the size, not the layout).
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--console", required=True, help="the console's URL (…/console/)")
    parser.add_argument("--api", required=True, help="the API's root URL")
    parser.add_argument("--token", required=True, help="the admin token")
    parser.add_argument("--personio-url", required=True)
    parser.add_argument("--personio-client-id", required=True)
    parser.add_argument("--personio-client-secret", required=True)
    parser.add_argument("--scim-url", required=True)
    parser.add_argument("--scim-token", required=True)
    parser.add_argument("--selection-attribute", required=True)
    parser.add_argument("--screenshots", required=True, type=pathlib.Path)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    return parser.parse_args()


def browser(args, profile):
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,800",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)
    driver.set_window_size(1280, 800)
    return driver


def step(text):
    print(f"== {text}", flush=True)


class Console:
    def __init__(self, driver, args):
        self.driver = driver
        self.args = args
        self.wait = WebDriverWait(driver, WAIT_SECONDS)
        args.screenshots.mkdir(parents=True, exist_ok=True)

    def find(self, css):
        return self.wait.until(until.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def click(self, css):
        self.wait.until(until.element_to_be_clickable((By.CSS_SELECTOR, css))).click()

    def click_text(self, tag, text):
        xpath = f"//{tag}[normalize-space()={json.dumps(text)}]"
        self.wait.until(until.element_to_be_clickable((By.XPATH, xpath))).click()

    def wait_text(self, css, text, seconds=WAIT_SECONDS):
        WebDriverWait(self.driver, seconds).until(
            until.text_to_be_present_in_element((By.CSS_SELECTOR, css), text)
        )

    def type(self, name, value, clear=True):
        field = self.find(f'[name="{name}"]')
        if clear:
            field.clear()
        field.send_keys(value)

    def shot(self, name):
        # Whole page, so that a screenshot shows the page, not one window of it.
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        width = self.driver.get_window_size()["width"]
        self.driver.set_window_size(width, max(800, min(height + 120, 4000)))
        self.driver.save_screenshot(str(self.args.screenshots / f"{name}.png"))
        self.driver.set_window_size(width, 800)

    def api(self, method, path, body=None):
        request = urllib.request.Request(
            self.args.api + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.args.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
            return json.loads(text) if text else None

    def scim_users(self):
        request = urllib.request.Request(
            self.args.scim_url + "/Users?count=1000",
            headers={"Authorization": f"Bearer {self.args.scim_token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["Resources"]


def sign_in(console):
    step("sign in: a wrong token is refused beside the field, the admin token gets in")
    console.driver.get(console.args.console)
    console.find("#admin-token").send_keys("plms_not-the-token", Keys.ENTER)
    console.wait_text("#admin-token-error", "not the admin token")
    assert console.find("#admin-token").get_attribute("aria-invalid") == "true"
    console.shot("sign-in")
    field = console.find("#admin-token")
    field.clear()
    field.send_keys(console.args.token, Keys.ENTER)
    console.wait_text("main h1", "Integrations")


def create_integration(console):
    step("create an integration; a wrong field shows its error beside that field")
    console.click_text("a", "New integration")
    console.wait_text("main h1", "New integration")
    args = console.args
    console.type("name", "ACME GmbH → Academy")
    console.type("personio.base_url", args.personio_url)
    console.type("personio.client_id", args.personio_client_id)
    console.type("personio.client_secret", args.personio_client_secret)
    console.type("lms.scim_base_url", args.scim_url)
    console.type("lms.token", args.scim_token)
    console.type("settings.selection.attribute", args.selection_attribute)
    console.type("settings.notifications.admin_email", "hr at acme")
    certificates = console.find('[name="settings.certificates.enabled"]')
    if not certificates.is_selected():
        certificates.click()
    console.shot("new-integration")
    console.click('button[name="save"]')
    # The API names settings.notifications.admin_email; the console puts it beside that input.
    console.wait_text(".field.invalid .error", "is not an email address")
    invalid = console.driver.find_element(By.CSS_SELECTOR, ".field.invalid")
    assert invalid.find_element(By.CSS_SELECTOR, "input").get_attribute("name") == "settings.notifications.admin_email"
    assert console.driver.switch_to.active_element.get_attribute("name") == "settings.notifications.admin_email"
    console.shot("field-error")
    console.type("settings.notifications.admin_email", "hr@acme.example")
    console.click('button[name="save"]')
    console.wait_text("main h1", "ACME GmbH → Academy")
    console.wait_text("main", "At a glance")
    url = console.driver.current_url
    integration = url.split("#/i/")[1].split("/")[0]
    return integration


def run_check(console):
    step("run the check: a checklist, with a fix for each failing line")
    console.click_text("a", "Check")
    console.click_text("button", "Run the check")
    console.wait_text("main", "personio.credentials")
    items = console.driver.find_elements(By.CSS_SELECTOR, ".checklist li")
    assert len(items) >= 4, f"{len(items)} checks"
    for item in items:
        if "failed" in item.get_attribute("class") or "warning" in item.get_attribute("class"):
            assert item.find_elements(By.CSS_SELECTOR, ".fix"), item.text
    console.shot("check")


def webhooks(console):
    step("webhooks: not installed, installed from the console, then active; the check says so")
    console.click_text("a", "Webhooks")
    console.wait_text("main", "no webhook is registered")
    console.click('button[name="install-webhook"]')
    console.wait_text(".webhook-status", "active (webhook")
    console.wait_text("main", "/webhooks/personio/")
    console.shot("webhooks")
    console.click_text("a", "Check")
    console.click_text("button", "Run the check")
    console.wait_text(".checklist", "webhooks")
    console.wait_text(".checklist", "active (webhook")


def make_plan(console):
    step("make a plan: creates with filters")
    console.click_text("a", "Plan")
    console.click_text("button", "Make a plan")
    console.wait_text("main", "employees listed")
    rows = console.driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    assert rows, "the plan lists employees"
    console.find("#outcome-action option[value='created']")
    console.driver.execute_script(
        "const s = document.querySelector('#outcome-action'); s.value = 'created'; s.dispatchEvent(new Event('change'));"
    )
    console.wait_text("main table tbody", "create")
    console.shot("plan")


def save_and_sync(console):
    step("save & sync, then watch the run finish")
    console.click_text("a", "Settings")
    console.click('button[name="save-sync"]')
    console.wait_text("main", "Runs", seconds=WAIT_SECONDS)
    # The list refreshes by itself (replacing its rows) until the run is there and finished.
    WebDriverWait(console.driver, 90).until(
        lambda driver: any(
            "succeeded" in text or "completed with failures" in text
            for text in row_texts(driver)
            if "plan" not in text
        )
    )
    console.shot("runs")


def row_texts(driver):
    """The rows' texts, read at once (a refreshing list replaces its rows under a reader)."""
    return driver.execute_script(
        "return [...document.querySelectorAll('main table tbody tr')].map((row) => row.innerText)"
    )


def open_run_and_find_employee(console):
    step("open the run and find one employee by email")
    # The finished sync's row, by position, clicked as soon as it is there (the list may
    # refresh between looking and clicking).
    def click_finished_sync(driver):
        texts = row_texts(driver)
        index = next(
            (number for number, text in enumerate(texts, 1)
             if "plan" not in text and ("succeeded" in text or "completed" in text)),
            None,
        )
        if index is None:
            return False
        try:
            driver.find_element(By.CSS_SELECTOR, f"main table tbody tr:nth-child({index}) a").click()
            return True
        except StaleElementReferenceException:
            return False

    WebDriverWait(console.driver, 30).until(click_finished_sync)
    console.wait_text("main h2", "Run of")
    first = console.find("main table tbody tr")
    email = first.find_element(By.CSS_SELECTOR, ".muted").text
    total = len(console.driver.find_elements(By.CSS_SELECTOR, "main table tbody tr"))
    assert total > 1, f"{total} employees in the run"
    search = console.find("#outcome-search")
    search.send_keys(email)
    WebDriverWait(console.driver, 10).until(
        lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")) == 1
    )
    row = console.find("main table tbody tr")
    assert email in row.text
    personio_id = row.find_element(By.CSS_SELECTOR, 'td[data-label="Personio id"]').text.strip()
    assert personio_id.isdigit(), personio_id
    console.shot("run")
    search.clear()
    search.send_keys("nobody-matches-this")
    console.wait_text("main", "No employee matches.")
    search.clear()
    search.send_keys(" ")
    return email, personio_id


def run_record_parts(console):
    step("run details: per-field changes, group removals and the aborted/abandoned statuses, as a record carries them")
    # The console's own module, in the page, on an outcome and statuses this core may not write
    # yet (the page renders them when a record has them).
    result = console.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import('./runs.js').then(({ changesOf, statusText }) => {
          const cell = changesOf({ action: 'updated', reason: 'department, team',
            changes: [{ field: 'department', from: 'Customer Support', to: 'Marketing' }, { field: 'team', to: 'Platform' }],
            groups_removed: ['Customer Support'] });
          const plain = changesOf({ action: 'skipped', reason: 'no email in Personio' });
          done({ text: cell.textContent, dels: [...cell.querySelectorAll('del')].map((e) => e.textContent),
                 ins: [...cell.querySelectorAll('ins')].map((e) => e.textContent), plain: String(plain.textContent ?? plain),
                 aborted: statusText('aborted'), abandoned: statusText('abandoned') });
        }).catch((error) => done({ error: String(error) }));
    """)
    assert "error" not in result, result
    assert result["dels"] == ["Customer Support", "group Customer Support"], result
    assert result["ins"] == ["Marketing", "Platform"], result
    assert "department: Customer Support → Marketing" in result["text"], result
    assert "team: — → Platform" in result["text"], result
    assert result["plain"] == "no email in Personio", result
    assert "stopped from outside" in result["aborted"] and "without recording an end" in result["abandoned"], result


def explain_employee(console, integration, email, personio_id):
    step("explain an employee: the lookup box on the integration page, then the whole answer")
    console.driver.get(console.args.console + f"#/i/{integration}")
    console.wait_text("main", "Explain an employee")
    lookup = console.find("#explain-employee")
    lookup.send_keys(personio_id, Keys.ENTER)
    console.wait_text("main h1", "ACME GmbH → Academy")
    console.wait_text("#explanation", "In short", seconds=60)
    assert f"#/i/{integration}/explain/{personio_id}" in console.driver.current_url, console.driver.current_url
    text = console.find("#explanation").text
    assert email in text, text
    for part in ("The next run", "In Personio", "selected", "What the learning platform receives",
                 "Fields sent", "email", "Link and LMS user", "LMS user id", "Recent outcomes"):
        assert part in text, f"{part!r} not in the explanation:\n{text}"
    # Synced by the run just made: nothing left to write (or, when their supervisor has no LMS
    # account, the reference looked up again), and that run lists them as created.
    next_run = console.find("#explain-next + p").text
    assert next_run.startswith(("nothing", "retry manager")), next_run
    outcomes = console.driver.find_elements(By.CSS_SELECTOR, 'section[aria-labelledby="explain-runs"] tbody tr')
    assert any("created" in row.text for row in outcomes), [row.text for row in outcomes]
    console.shot("explain")
    fits_phone_width(console, "#explanation", "In short")
    # A Personio id nobody has: the API's answer, beside the lookup.
    lookup = console.find("#explain-employee")
    lookup.clear()
    lookup.send_keys("999999", Keys.ENTER)
    console.wait_text("#explanation", "no employee")


def fits_phone_width(console, ready_css, text):
    """The page now shown, at phone width: no sideways scrolling (tables become stacked cards)."""
    console.driver.set_window_size(390, 844)
    try:
        console.wait_text(ready_css, text)
        wide = console.driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 2")
        assert not wide, f"{console.driver.current_url} scrolls sideways at phone width"
    finally:
        console.driver.set_window_size(1280, 800)


def audit_trail(console, integration):
    step("rotate a credential in the console, then find it on the audit trail")
    console.driver.get(console.args.console + f"#/i/{integration}/settings")
    console.type("lms.token", console.args.scim_token)
    console.click('button[name="save"]')
    console.wait_text("main", "At a glance")
    console.click_text("a", "Audit trail")
    console.wait_text("main table tbody", "lms.token")
    rows = row_texts(console.driver)
    newest = rows[0]
    assert "lms.token" in newest and ("rotate_credentials" in newest or "update" in newest), rows
    assert "console session" in newest and "succeeded" in newest, newest
    assert "client_secret" not in newest and console.args.scim_token not in "\n".join(rows), rows
    # What the test did before, newest first: the certificate (with the admin token, through the
    # API), "sync now", the settings saved with it, the creation.
    actions = console.driver.execute_script(
        "return [...document.querySelectorAll('main table tbody tr')].map((row) => row.querySelector('[data-action]')?.dataset.action || '')"
    )
    assert "submit_certificate" in actions and "sync_now" in actions and "create" in actions, rows
    assert actions.index("submit_certificate") < actions.index("sync_now") < actions.index("create"), rows
    assert any("admin token" in row for row in rows), rows
    request_id = console.driver.find_element(By.CSS_SELECTOR, 'main table tbody tr td[data-label="Request id"]').text
    assert request_id.strip(), "a request id"
    # The "Saved." notice would cover the table in the picture.
    console.driver.execute_script("document.getElementById('status').textContent = ''")
    console.shot("audit")
    fits_phone_width(console, "main table tbody", "lms.token")


def push_certificate(console, integration, email):
    step("push a certificate through the API and see it arrive in Personio")
    user = next(user for user in console.scim_users() if any(address.get("value", "").lower() == email.lower() for address in user.get("emails", [])) or user.get("userName", "").lower() == email.lower())
    job = {
        "certificate_id": "console-test-cert-1",
        "lms_user_id": user["id"],
        "course_name": "Fire safety",
        "completed_on": "2026-11-23",
        "pdf_base64": base64.b64encode(PDF).decode(),
    }
    accepted = console.api("POST", f"/integrations/{integration}/certificates", job)
    assert accepted["status"] == "accepted", accepted
    console.click_text("a", "Certificates")

    def arrived(driver):
        # The ledger is read when the page opens: look again until the certificate is done.
        driver.refresh()
        WebDriverWait(driver, 10).until(until.text_to_be_present_in_element((By.CSS_SELECTOR, "main"), "Page 1"))
        return any(
            "console-test-cert-1" in text and "done" in text and "Personio document" in text
            for text in row_texts(driver)
        )

    WebDriverWait(console.driver, 60, poll_frequency=1).until(arrived)
    console.shot("certificates")


def integrations_list(console):
    step("the integrations list: last run, next run, problems")
    console.driver.get(console.args.console + "#/")
    console.wait_text("main table", "ACME GmbH")
    text = console.find("main table").text
    assert "succeeded" in text or "completed" in text, text
    console.shot("integrations")
    step("phone width: the same pages, readable")
    console.driver.set_window_size(390, 844)
    console.wait_text("main table", "ACME GmbH")
    height = console.driver.execute_script("return document.documentElement.scrollHeight")
    console.driver.set_window_size(390, max(844, min(height + 100, 3000)))
    console.driver.save_screenshot(str(console.args.screenshots / "integrations-phone.png"))
    wide = console.driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 2")
    assert not wide, "the page scrolls sideways at phone width"
    console.driver.set_window_size(1280, 800)


def keyboard_only(console):
    step("keyboard: the skip link, the navigation and the pages work without a mouse")
    console.driver.get(console.args.console + "#/")
    console.wait_text("main h1", "Integrations")
    # After a page change the focus is on the page's heading; backwards lies the navigation
    # and, first of all, the skip link.
    reached = []
    for _ in range(8):
        ActionChains(console.driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        reached.append(console.driver.switch_to.active_element.text)
        if reached[-1] == "Skip to content":
            break
    assert "Integrations" in reached and "Skip to content" in reached, reached
    # Forward from the heading: the first integration, opened with Enter.
    console.find("main h1").click()
    ActionChains(console.driver).send_keys(Keys.TAB).perform()
    active = console.driver.switch_to.active_element
    assert active.text == "ACME GmbH → Academy", active.text
    active.send_keys(Keys.ENTER)
    console.wait_text("main h1", "ACME GmbH → Academy")
    assert console.driver.switch_to.active_element.tag_name == "h1"


def sign_out(console):
    step("sign out: the session ends, the console asks for the token again")
    console.click("#sign-out")
    console.find("#admin-token")
    console.driver.get(console.args.console + "#/")
    console.find("#admin-token")


def main():
    args = arguments()
    with tempfile.TemporaryDirectory(prefix="console-chromium-") as profile:
        driver = browser(args, profile)
        try:
            console = Console(driver, args)
            sign_in(console)
            integration = create_integration(console)
            run_check(console)
            webhooks(console)
            make_plan(console)
            save_and_sync(console)
            email, personio_id = open_run_and_find_employee(console)
            run_record_parts(console)
            explain_employee(console, integration, email, personio_id)
            push_certificate(console, integration, email)
            audit_trail(console, integration)
            integrations_list(console)
            keyboard_only(console)
            sign_out(console)
            # Script errors fail the test; refused requests (the wrong token, the wrong field)
            # are the test's own doing.
            logs = [
                entry for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE" and entry.get("source") != "network"
            ]
            assert not logs, f"browser errors: {logs}"
        except (AssertionError, TimeoutException):
            failure = args.screenshots / "failure.png"
            driver.save_screenshot(str(failure))
            print(f"failed on {driver.current_url}; screenshot {failure}\n{driver.find_element(By.TAG_NAME, 'body').text[:3000]}", file=sys.stderr)
            raise
        finally:
            driver.quit()
    print("console: every step passed", flush=True)


if __name__ == "__main__":
    main()
