#!/usr/bin/env python3
"""Drives authd's admin console in headless Chromium (selenium, chromium-driver).

Started by Tests/AuthdTests/ConsoleBrowserTests.swift against a real authd that already
holds an ADMIN, a MANAGER and two TARGETs, one of them with names that are XSS attempts. Walks:
sign in, search, open a user, change their role, see the new event at the top of the
timeline, open an as-of view, verify the log, log out; a form posted without its CSRF token
is refused; a MANAGER cannot act; a TARGET cannot sign in; the XSS names show as text.
Checks the headers too (no-store, CSP, cookie flags) with plain HTTP.

Saves a screenshot of each step into --screenshots (console-STEP.png). Prints one line per
step; on the first failure prints "FAIL: why" and exits 1.
"""
import argparse
import http.client
import sys
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


def headers_and_csrf(base):
    """Plain HTTP: the sign-in page's headers, and a sign-in posted without its token."""
    url = urllib.parse.urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("GET", "/admin/login")
    response = connection.getresponse()
    response.read()
    check(response.status == 200, f"GET /admin/login answered {response.status}")
    check(response.getheader("Cache-Control") == "no-store", "the sign-in page is not no-store")
    policy = response.getheader("Content-Security-Policy") or ""
    check("default-src 'none'" in policy and "style-src 'self'" in policy, f"weak CSP: {policy}")
    check("script-src" not in policy, f"the CSP allows scripts: {policy}")
    cookie = response.getheader("Set-Cookie") or ""
    check("HttpOnly" in cookie and "SameSite=Strict" in cookie, f"cookie flags missing: {cookie}")
    check("Secure" not in cookie, "a Secure cookie on a plain-http public URL")
    body = urllib.parse.urlencode({"email": "nobody@example.com", "password": "x"})
    connection.request(
        "POST", "/admin/login", body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie.split(";")[0]})
    response = connection.getresponse()
    response.read()
    check(response.status == 403, f"a sign-in without its CSRF token answered {response.status}")
    connection.close()
    print("headers and sign-in CSRF: ok", flush=True)


class Console:
    def __init__(self, base, screenshots):
        self.base = base
        self.screenshots = screenshots
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400",
                         "--disable-gpu", "--no-first-run", "--disable-extensions"]:
            options.add_argument(argument)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(60)

    def get(self, path):
        self.driver.get(self.base + path)

    def path(self):
        return urllib.parse.urlparse(self.driver.current_url).path

    def text(self):
        return self.driver.find_element(By.TAG_NAME, "body").text

    def shot(self, name):
        self.driver.save_screenshot(f"{self.screenshots}/console-{name}.png")

    def click(self, selector):
        self.driver.find_element(By.CSS_SELECTOR, selector).click()

    def sign_in(self, email, password):
        self.get("/admin/login")
        self.driver.find_element(By.NAME, "email").clear()
        self.driver.find_element(By.NAME, "email").send_keys(email)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.click("#sign-in")

    def wait_for(self, condition, message, seconds=20):
        """Polls `condition` until it holds; an element gone stale while a page loads counts as not yet."""
        def holds(_):
            try:
                return condition()
            except WebDriverException:
                return False
        try:
            WebDriverWait(self.driver, seconds, poll_frequency=0.1).until(holds)
        except TimeoutException:
            fail(f"{message} (at {self.driver.current_url}: {self.text()[:1500]!r})")

    def timeline_types(self):
        return [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, "#timeline .event .type")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--admin", required=True, help="EMAIL:PASSWORD")
    parser.add_argument("--manager", required=True, help="EMAIL:PASSWORD")
    parser.add_argument("--target", required=True, help="EMAIL:PASSWORD:ID")
    parser.add_argument("--xss", required=True, help="EMAIL:PASSWORD:ID of a TARGET whose names are XSS attempts")
    arguments = parser.parse_args()
    admin_email, admin_password = arguments.admin.split(":", 1)
    manager_email, manager_password = arguments.manager.split(":", 1)
    target_email, target_password, target_id = arguments.target.split(":", 2)
    xss_email, xss_password, xss_id = arguments.xss.split(":", 2)

    headers_and_csrf(arguments.url)
    console = Console(arguments.url, arguments.screenshots)
    driver = console.driver
    try:
        # Signed out, every page leads to the sign-in form.
        console.get("/admin/users")
        console.wait_for(lambda: console.path() == "/admin/login", "a signed-out page did not lead to the sign-in")
        console.shot("login")

        # A wrong password is refused.
        console.sign_in(admin_email, "not the password at all")
        console.wait_for(lambda: "Wrong email or password" in console.text(), "a wrong password was not refused")

        console.sign_in(admin_email, admin_password)
        console.wait_for(lambda: console.path() == "/admin/users", "the admin's sign-in did not reach the users page")
        check("ADMIN" in console.text() and admin_email in console.text(), "the users page names no admin")
        counts = driver.find_element(By.CSS_SELECTOR, ".counts").text
        check("TARGET" in counts and "MANAGER" in counts, f"no counts per role: {counts!r}")
        cookies = driver.get_cookies()
        check(any(c["name"] == "authlog_console" and c["httpOnly"] and c.get("sameSite") == "Strict"
                  for c in cookies), f"the session cookie's flags: {cookies}")
        print("sign in: ok", flush=True)

        # A link to the sign-in form from another site (here a data: page, an opaque origin):
        # the browser sends no SameSite=Strict cookie with it, and the form it opens must not
        # replace the signed-in one.
        driver.get("data:text/html,<a id=away href='" + arguments.url + "/admin/login'>sign in</a>")
        console.click("#away")
        console.wait_for(lambda: console.path() == "/admin/login", "the link from another site did not open the form")
        console.get("/admin/users")
        console.wait_for(lambda: console.path() == "/admin/users" and admin_email in console.text(),
                         "a sign-in form opened from another site signed the admin out")
        print("a form opened from another site: ok", flush=True)

        # The XSS attempts show as text: no element made of them, the characters on the page.
        search = driver.find_element(By.NAME, "q")
        search.send_keys("xss")
        console.click("#search")
        console.wait_for(lambda: "1 found" in console.text(), "the search for the XSS user found no one")
        links = driver.find_elements(By.CSS_SELECTOR, "a.user-link")
        check(len(links) == 1, f"{len(links)} results for xss")
        console.get(f"/admin/users/{xss_id}")
        check("<script>alert(1)</script>" in console.text(), "the <script> name does not show as text")
        check('"><img src=x onerror=alert(2)>' in console.text(), "the onerror name does not show as text")
        check(len(driver.find_elements(By.TAG_NAME, "img")) == 0, "an <img> from a name made it into the page")
        check(len(driver.find_elements(By.TAG_NAME, "script")) == 0, "a <script> made it into the page")
        console.shot("xss")
        print("XSS names as text: ok", flush=True)

        # Search by email prefix; open the user.
        console.get("/admin/users")
        search = driver.find_element(By.NAME, "q")
        search.send_keys(target_email[:6])
        console.click("#search")
        console.wait_for(lambda: "1 found" in console.text() and target_email in console.text(),
                         "the email prefix search did not find the user alone")
        console.shot("search")
        driver.find_element(By.LINK_TEXT, target_email).click()
        console.wait_for(lambda: console.path() == f"/admin/users/{target_id}", "the user's page did not open")
        check(driver.find_element(By.ID, "field-role").text == "TARGET", "the user is not a TARGET to begin with")
        before = console.timeline_types()
        check(before and before[-1] == "UserRegistered", f"the timeline does not start at registration: {before}")
        print("search and open: ok", flush=True)

        # A form posted without its CSRF token is refused, and changes nothing.
        driver.execute_script(
            "document.querySelectorAll('form[action$=\"/role\"] input[name=csrf]').forEach(e => e.remove())")
        Select(driver.find_element(By.ID, "role-select")).select_by_value("MARKETING")
        console.click("#change-role")
        console.wait_for(lambda: "security token" in console.text(), "a form without its CSRF token was not refused")
        console.get(f"/admin/users/{target_id}")
        check(driver.find_element(By.ID, "field-role").text == "TARGET", "a form without CSRF changed the role")
        check(console.timeline_types() == before, "a form without CSRF appended an event")
        print("CSRF refused: ok", flush=True)

        # Change the role: the new event is at the top of the timeline, with the admin as actor.
        Select(driver.find_element(By.ID, "role-select")).select_by_value("MARKETING")
        console.click("#change-role")
        console.wait_for(lambda: "The role was changed" in console.text(), "the role change did not report")
        check(driver.find_element(By.ID, "field-role").text == "MARKETING", "the role did not change")
        top = driver.find_element(By.CSS_SELECTOR, "#timeline .event")
        check(top.find_element(By.CSS_SELECTOR, ".type").text == "RoleChanged", f"top event: {top.text!r}")
        check("TARGET" in top.text and "MARKETING" in top.text, f"the change is not shown before → after: {top.text!r}")
        driver.execute_script("document.querySelector('.actions').scrollIntoView()")
        console.shot("user")
        position = int(top.find_element(By.CSS_SELECTOR, ".position").text.lstrip("#"))
        print("role change on the timeline: ok", flush=True)

        # As of the position before the change: the user was a TARGET; the diff shows it.
        field = driver.find_element(By.ID, "as-of")
        field.send_keys(str(position - 1))
        console.click("#show-as-of")
        console.wait_for(lambda: "As of" in console.text(), "the as-of view did not open")
        diff = driver.find_element(By.CSS_SELECTOR, "table.diff").text
        check("role TARGET MARKETING" in diff, f"the as-of diff does not show the role then and now: {diff!r}")
        console.shot("as-of")
        print("as-of view: ok", flush=True)

        # The log page, and a verification run from it.
        console.get("/admin/log")
        check("Head position" in console.text(), "no log page")
        console.click("#verify")
        console.wait_for(lambda: "intact and signed" in driver.find_element(By.ID, "verification").text,
                         "the verification did not report an intact signed log", seconds=60)
        console.shot("log")
        print("log page and verification: ok", flush=True)

        # Log out: the session is over.
        console.click("#logout")
        console.wait_for(lambda: console.path() == "/admin/login", "logging out did not lead to the sign-in")
        console.get("/admin/users")
        console.wait_for(lambda: console.path() == "/admin/login", "after logging out a page was still served")
        print("log out: ok", flush=True)

        # A MANAGER reads but cannot act.
        console.sign_in(manager_email, manager_password)
        console.wait_for(lambda: console.path() == "/admin/users", "the manager's sign-in did not reach the users page")
        console.get(f"/admin/users/{target_id}")
        check(len(driver.find_elements(By.ID, "change-role")) == 0, "a MANAGER is offered actions")
        check(len(driver.find_elements(By.ID, "timeline")) == 0, "a MANAGER is shown the timeline")
        csrf = driver.find_element(By.CSS_SELECTOR, "form.logout input[name=csrf]").get_attribute("value")
        driver.execute_script(
            "const f = document.createElement('form'); f.method = 'post';"
            "f.action = '/admin/users/' + arguments[0] + '/role';"
            "for (const [k, v] of [['csrf', arguments[1]], ['role', 'ADMIN']]) {"
            "  const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }"
            "document.body.appendChild(f); f.submit();", target_id, csrf)
        console.wait_for(lambda: "Only an ADMIN" in console.text(), "a MANAGER's role change was not refused")
        console.get(f"/admin/users/{target_id}")
        check(driver.find_element(By.ID, "field-role").text == "MARKETING", "a MANAGER changed a role")
        console.get("/admin/log")
        check("Only an ADMIN" in console.text(), "a MANAGER saw the log page")
        console.click("#logout")
        console.wait_for(lambda: console.path() == "/admin/login", "the manager could not log out")
        print("manager read-only: ok", flush=True)

        # A TARGET cannot sign in.
        console.sign_in(xss_email, xss_password)
        console.wait_for(lambda: "may not use the console" in console.text(), "a TARGET was not refused")
        console.get("/admin/users")
        console.wait_for(lambda: console.path() == "/admin/login", "a TARGET reached the users page")
        print("target refused: ok", flush=True)

        # Soft-delete, restore, and erase with its typed confirmation, on the XSS user.
        console.sign_in(admin_email, admin_password)
        console.wait_for(lambda: console.path() == "/admin/users", "the admin could not sign in again")
        console.get(f"/admin/users/{xss_id}")
        console.click("#soft-delete")
        console.wait_for(lambda: "The user was soft-deleted" in console.text(), "the soft-delete did not report")
        check(driver.find_element(By.ID, "field-deleted_at").text != "—", "soft-deleted, yet no deleted_at")
        console.click("#restore")
        console.wait_for(lambda: "The user was restored" in console.text(), "the restore did not report")
        driver.find_element(By.ID, "erase-confirm").send_keys("someone.else@example.com")
        console.click("#erase")
        console.wait_for(lambda: "nothing was erased" in console.text(), "an erase with the wrong confirmation went on")
        console.get(f"/admin/users/{xss_id}")
        driver.find_element(By.ID, "erase-confirm").send_keys(xss_email)
        console.click("#erase")
        console.wait_for(lambda: "The user was erased" in console.text(), "the erase did not report")
        check(driver.find_element(By.ID, "field-email").text == "erased", "the erased user's address still shows")
        check(xss_email not in console.text() and "<script>" not in console.text(), "erased fields still show")
        check("personal fields erased" in driver.find_element(By.ID, "timeline").text,
              "the timeline does not say the personal fields are erased")
        check(console.timeline_types()[:2] == ["UserErased", "UserRestored"], f"{console.timeline_types()}")
        # Filtered by type, the timeline shows that type alone.
        console.get(f"/admin/users/{xss_id}?type=UserSoftDeleted")
        check(console.timeline_types() == ["UserSoftDeleted"], f"filtered timeline: {console.timeline_types()}")
        # The erased address is no longer found by prefix.
        console.get("/admin/users?q=xss")
        check("0 found" in console.text(), "an erased user is still found by their address")
        print("soft-delete, restore, erase: ok", flush=True)
    finally:
        driver.quit()
    print("all ok", flush=True)


if __name__ == "__main__":
    main()
