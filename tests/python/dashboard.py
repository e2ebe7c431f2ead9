"""The dashboard (`micro web`) in real headless Chromium, driven by Selenium over chromedriver.

    dashboard.py URL SCREENSHOTS

Environment:
    MICRO_TEST_CLI_CALL    what `micro call go.micro.srv.greeter Greeter.Call '{"name": "John"}'`
                           printed, for the terminal to match
    MICRO_TEST_GREETER     the greeter binary, started (and stopped) here as a second version;
                           it inherits the registry settings from this environment

Prints one line per check passed and exits 0; the first check that fails raises.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

GREETER = "go.micro.srv.greeter"
SUBSCRIBER = "go.micro.srv.subscriber"


def browser(profile):
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,900"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def main():
    url, shots = sys.argv[1].rstrip("/"), sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="micro-chromium-")
    driver = browser(profile)
    wait = WebDriverWait(driver, 20)
    try:
        check_overview(driver, wait, url, shots)
        check_service(driver, wait, url, shots)
        check_client(driver, wait, url, shots)
        check_terminal(driver, wait, url, shots)
        check_live(driver, wait, url, shots)
        check_web_app(driver, wait, url, shots)
        check_cross_site(driver, wait, url)
        check_phone(driver, wait, url, shots)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def visible_services(driver):
    return [li.get_attribute("data-name") for li in driver.find_elements(By.CSS_SELECTOR, "#services li[data-name]") if li.is_displayed()]


def check_overview(driver, wait, url, shots):
    driver.get(url + "/")
    wait.until(lambda d: {GREETER, SUBSCRIBER} <= set(visible_services(d)))
    driver.save_screenshot(os.path.join(shots, "overview.png"))
    search = driver.find_element(By.ID, "search")
    search.send_keys("srv.greet")
    wait.until(lambda d: visible_services(d) == [GREETER])
    search.clear()
    search.send_keys(" ")
    print("overview: both services listed; the search box filters them")


def check_service(driver, wait, url, shots):
    driver.get(f"{url}/service/{GREETER}")
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "td.health"), "ok"))
    text = driver.find_element(By.TAG_NAME, "main").text
    for expected in ["Greeter.Call", "name string", "msg string", "Greeter.Stream"]:
        assert expected in text, f"{expected!r} not on the service page:\n{text}"
    driver.save_screenshot(os.path.join(shots, "service.png"))
    print("service page: the node is healthy, Greeter.Call has name string / msg string")


def reply_text(driver):
    return driver.find_element(By.ID, "reply").text


def check_client(driver, wait, url, shots):
    driver.get(f"{url}/client?service={GREETER}&endpoint=Greeter.Call")
    box = driver.find_element(By.ID, "request")
    assert json.loads(box.get_attribute("value")) == {"name": ""}, box.get_attribute("value")
    box.clear()
    box.send_keys('{"name": "John"}')
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: '"msg": "Hello John"' in reply_text(d))
    driver.save_screenshot(os.path.join(shots, "client.png"))
    driver.find_element(By.ID, "copy-cli").click()
    copied = driver.find_element(By.ID, "copied").text
    assert copied == "micro call go.micro.srv.greeter Greeter.Call '{\"name\":\"John\"}'", copied

    driver.get(f"{url}/client?service={GREETER}&endpoint=Greeter.Stream")
    box = driver.find_element(By.ID, "request")
    box.clear()
    box.send_keys('{"count": 3}')
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: d.find_element(By.ID, "reply").get_attribute("data-replies") == "3")
    # Replies 0, 1 and 2 (proto3 JSON leaves the 0 out).
    assert reply_text(driver).count("{") == 3 and '"count": "2"' in reply_text(driver), reply_text(driver)

    # An endpoint the service does not have: the form shows the error as the service sent it.
    driver.get(f"{url}/client?service={GREETER}&endpoint=Greeter.Call")
    driver.execute_script(
        "const s = document.getElementById('endpoint'); const o = new Option('Greeter.Nope', 'Greeter.Nope');"
        "s.add(o); s.value = 'Greeter.Nope';")
    driver.find_element(By.ID, "send").click()
    wait.until(lambda d: '"code": 501' in reply_text(d))
    assert "error" in driver.find_element(By.ID, "reply").get_attribute("class")
    print("call form: pre-filled {\"name\": \"\"}, Hello John, three streamed replies, the 501 error")


def screen(driver):
    # textContent, not .text: WebDriver's text folds the tabs the CLI indents replies with.
    return driver.execute_script("return document.getElementById('screen').textContent")


def type_line(driver, wait, line):
    before = screen(driver)
    field = driver.find_element(By.ID, "line")
    field.send_keys(line)
    field.send_keys(Keys.ENTER)
    wait.until(lambda d: d.find_element(By.ID, "line").is_enabled() and screen(d) != before and len(screen(d)) > len(before) + len(line) + 8)
    return screen(driver)[len(before):]


def check_terminal(driver, wait, url, shots):
    driver.get(url + "/terminal")
    wait.until(EC.element_to_be_clickable((By.ID, "line")))
    out = type_line(driver, wait, 'call go.micro.srv.greeter Greeter.Call {"name": "John"}')
    cli = os.environ["MICRO_TEST_CLI_CALL"].strip()
    shown = out.strip().split("\n", 1)[1].strip()
    assert shown == cli, f"terminal printed {shown!r}, the CLI {cli!r}"
    out = type_line(driver, wait, "list services")
    assert GREETER in out and SUBSCRIBER in out, out
    field = driver.find_element(By.ID, "line")
    field.send_keys("get service go.micro.srv.gr")
    field.send_keys(Keys.TAB)
    wait.until(lambda d: d.find_element(By.ID, "line").get_attribute("value") == f"get service {GREETER} ")
    field.send_keys(Keys.ENTER)
    wait.until(lambda d: "Endpoint: Greeter.Call" in screen(d))
    driver.save_screenshot(os.path.join(shots, "terminal.png"))
    print("terminal: the CLI's output for call, list services, Tab completes the service name")


def greeter_versions(driver):
    for li in driver.find_elements(By.CSS_SELECTOR, "#services li[data-name]"):
        if li.get_attribute("data-name") == GREETER:
            return li.find_element(By.CSS_SELECTOR, ".meta").text
    return ""


def check_live(driver, wait, url, shots):
    driver.get(url + "/")
    wait.until(lambda d: GREETER in visible_services(d))
    driver.execute_script("window.notReloaded = true;")
    env = dict(os.environ, MICRO_SERVER_VERSION="2.0.0")
    env.pop("MICRO_SERVER_ADDRESS", None)
    second = subprocess.Popen([os.environ["MICRO_TEST_GREETER"]], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait.until(lambda d: "2.0.0" in greeter_versions(d))
        assert driver.execute_script("return window.notReloaded === true;"), "the page reloaded"
        driver.save_screenshot(os.path.join(shots, "overview-live.png"))
    finally:
        second.terminate()
        second.wait(20)
    wait.until(lambda d: "2.0.0" not in greeter_versions(d) and greeter_versions(d) != "")
    assert driver.execute_script("return window.notReloaded === true;"), "the page reloaded"
    print("live: a second version appeared and left without a reload")


def check_web_app(driver, wait, url, shots):
    driver.get(url + "/greeter/")
    wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Hello from the web greeter"))
    assert driver.find_element(By.ID, "base").text == "/greeter/", driver.find_element(By.ID, "base").text
    driver.save_screenshot(os.path.join(shots, "web-app.png"))
    echoed = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const ws = new WebSocket(location.origin.replace('http', 'ws') + '/greeter/echo');
        ws.onopen = () => ws.send('hello through the dashboard');
        ws.onmessage = (m) => { done(m.data); ws.close(); };
        ws.onerror = () => done('error');
    """)
    assert echoed == "hello through the dashboard", echoed
    print("web app: /greeter/ through the dashboard, and its WebSocket")


def check_cross_site(driver, wait, url):
    # A page of another origin (here a data: URL, origin null) posts a text/plain form to /rpc,
    # as a CSRF attack would: the dashboard refuses it.
    page = ("data:text/html,<form id=f method=POST enctype=text/plain action='" + url + "/rpc'>"
            "<input name='{\"service\":\"go.micro.srv.greeter\",\"endpoint\":\"Greeter.Call\",\"x\":\"' value='\"}'>"
            "</form><script>document.getElementById('f').submit()</script>")
    driver.get(page)
    wait.until(lambda d: "application/json only" in d.find_element(By.TAG_NAME, "body").text)
    print("cross-site: a text/plain form post from another origin is refused")


def check_phone(driver, wait, url, shots):
    # A phone's width: every page fits it (wide tables and code scroll inside their boxes).
    driver.set_window_size(390, 844)
    for path in ["/", f"/service/{GREETER}", f"/client?service={GREETER}&endpoint=Greeter.Call", "/terminal", "/stats"]:
        driver.get(url + path)
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        assert overflow <= 1, f"{path} is {overflow}px wider than a phone's screen"
    driver.get(f"{url}/service/{GREETER}")
    driver.save_screenshot(os.path.join(shots, "service-phone.png"))
    print("phone: every page fits 390 px")


if __name__ == "__main__":
    main()
