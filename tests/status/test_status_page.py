"""The status page (GET /) in a real browser: the distribution's headless Chromium, driven by Selenium through the
distribution's chromedriver, against a real gateway process with keys, whose upstreams are fakes on loopback (one
healthy, one answering 529 so that it cools down). Checks what a person would see, and keeps a screenshot as a test
artefact (``$GATEWAY_TEST_ARTIFACTS``, default ``test-artifacts/`` in the checkout)."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.fakes import AnthropicFake, Behavior
from tests.gateway_process import gateway_process

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GATEWAY_TEST_ARTIFACTS", ROOT / "test-artifacts"))
KEY = "sk-gw-status-page-0123456789"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[object]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)")
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _config(tmp_path: Path, good: str, bad: str) -> Path:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "gateway: {api_keys: [{key: os.environ/GATEWAY_KEY, name: ops}]}\n"
        "model_list:\n"
        f'  - {{model_name: main, litellm_params: {{model: "anthropic/*", api_base: "{good}", api_key: sk-up-1}}}}\n'
        f'  - {{model_name: flaky, litellm_params: {{model: "anthropic/*", api_base: "{bad}", api_key: sk-up-2}}}}\n'
        "router_settings: {fallbacks: [{flaky: [main]}], cooldown_time: 600, allowed_fails: 1}\n"
        "routing: {default: main, rules: [{tier: haiku, effort: [none], group: flaky}]}\n"
        f"storage: {{database_url: 'sqlite+aiosqlite:///{tmp_path / 'gw.db'}'}}\n"
    )
    return config


def test_status_page_in_a_real_browser(browser: object, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    with (
        AnthropicFake(name="good", validate=False) as good,
        AnthropicFake(Behavior(status=529), name="bad", validate=False) as bad,
    ):
        config = _config(tmp_path, good.url, bad.url)
        with gateway_process(config, {"GATEWAY_KEY": KEY}, log_file=tmp_path / "gw.log") as (_proc, url):
            body = {"max_tokens": 8, "messages": [{"role": "user", "content": "secret prompt text"}]}
            headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
            assert httpx.post(
                f"{url}/v1/messages", json={**body, "model": "claude-opus-4-7"}, headers=headers
            ).is_success
            # haiku without effort -> flaky (529, cools down) -> fallback main
            failed_over = httpx.post(f"{url}/v1/messages", json={**body, "model": "claude-haiku-4-5"}, headers=headers)
            assert failed_over.status_code == 200, failed_over.text

            # without the key: the API's 401 envelope, with a Basic challenge so a browser can ask for the key
            anonymous = httpx.get(f"{url}/")
            assert anonymous.status_code == 401
            assert anonymous.json()["error"]["type"] == "authentication_error"
            assert anonymous.headers["www-authenticate"].startswith("Basic ")
            assert httpx.get(f"{url}/", headers={"x-api-key": KEY}).status_code == 200
            assert httpx.head(f"{url}/").status_code == 200  # Claude Code's preconnect needs no key
            assert httpx.get(f"{url}/", auth=("anyone", "not-the-key-0123456789")).status_code == 401

            browser.get(f"{url}/")  # the browser now asks for credentials; nothing of the page is shown
            assert browser.title != "LiteLLM Gateway status"
            assert "Routing table" not in browser.page_source
            # a person types the key into the browser's prompt; here it is sent as HTTP Basic by the browser itself
            token = base64.b64encode(f"me:{KEY}".encode()).decode()
            browser.execute_cdp_cmd("Network.enable", {})
            browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
            browser.get(f"{url}/")
            assert browser.title == "LiteLLM Gateway status"
            text = browser.find_element(By.TAG_NAME, "body").text
            port = url.rsplit(":", 1)[1]
            assert browser.find_element(By.ID, "version").text == "0.1.0"
            assert browser.find_element(By.ID, "mode").text == "1 key(s)"
            assert browser.find_element(By.ID, "listen").text == f"127.0.0.1:{port}"
            assert browser.find_element(By.ID, "default").text == "main"
            assert "tier haiku, effort none -> flaky" in browser.find_element(By.ID, "rules").text
            deployments = browser.find_element(By.ID, "deployments").text
            assert "main/1 [anthropic]" in deployments and "healthy" in deployments
            assert "flaky/1 [anthropic]" in deployments and "cooling down" in deployments
            assert "fallbacks: main" in deployments
            recent = browser.find_element(By.ID, "recent").text
            assert "claude-opus-4-7" in recent and "claude-haiku-4-5" in recent
            # newest first: the haiku request took two upstream attempts (flaky/1's 529, then main/1)
            assert "claude-haiku-4-5 haiku / none flaky main/1 200 2 json" in recent, recent
            assert "claude-opus-4-7 opus / none main main/1 200 1 json" in recent, recent
            assert "session run(s) in this process" in browser.find_element(By.ID, "sessions").text
            link = browser.find_element(By.LINK_TEXT, "API docs (Swagger UI)")
            assert link.get_attribute("href") == f"{url}/ui/"
            # no bodies, no keys
            source = browser.page_source
            for secret in (KEY, "sk-up-1", "sk-up-2", "secret prompt text"):
                assert secret not in source
            assert "<script" not in source and "http://" not in source.split("</style>")[0]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "status-page.png"
            assert browser.save_screenshot(str(shot))
            assert shot.stat().st_size > 10_000
            assert "cooling down" in text
