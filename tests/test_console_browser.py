"""The console in a real headless chromium (tests/browser.py): type a rule and see
its diagnostic, evaluate a payload, load a recorded call, see the corpus. One
server and one browser for the module; screenshots in artifacts/screenshots/."""

from __future__ import annotations

import json

import pytest

from .browser import chromium_driver, console_server, need_browser, screenshot, wait_for
from .console_fixtures import make_project

BROKEN = 'rule no_rm "no recursive deletes"\n  on tool_pre_invoke\n  when tool.name == "shell"\n  blok "x"\n'


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    need_browser()
    base = tmp_path_factory.mktemp("ui-browser")
    make_project(base)
    args = ("rules", "--corpus", "corpus", "--decisions", "decisions.jsonl")  # as a user types them
    with console_server(*args, cwd=base) as url, chromium_driver(tmp_path_factory) as driver:
        yield driver, url


def _select(driver, css, value):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.CSS_SELECTOR, css)).select_by_value(value)


def _type(driver, css, text):
    from selenium.webdriver.common.by import By

    area = driver.find_element(By.CSS_SELECTOR, css)
    area.clear()
    area.send_keys(text)


def _playground(driver, url):
    driver.get(url)  # the printed URL: the page cookie, the token kept by the page
    wait_for(driver, "body[data-ready='1']")
    assert "token=" not in driver.current_url


def test_typing_a_broken_rule_shows_its_diagnostic_and_fixing_it_clears_it(console):
    driver, url = console
    _playground(driver, url)
    assert driver.find_element("css selector", "header .where").text == "rules · read-only"
    wait_for(driver, "#check-status", "no problems")
    _select(driver, "#rules-file", "tools.rules")
    _type(driver, "#rules-text", BROKEN)
    diag = wait_for(driver, ".diag[data-code='GR0100']")
    assert "tools.rules:4:3" in diag.text and "did you mean 'block'?" in diag.text
    assert "1 error(s)" in driver.find_element("css selector", "#check-status").text
    mark = driver.find_element("css selector", "#rules-marks mark.error[data-code='GR0100']")
    assert mark.get_property("textContent") == "blok"  # the span, highlighted in the editor
    screenshot(driver, "console-playground-diagnostic")
    diag.click()  # selects the span in the editor
    selected = driver.execute_script(
        "const a = document.getElementById('rules-text');"
        "return a.value.slice(a.selectionStart, a.selectionEnd);"
    )
    assert selected == "blok"
    _type(driver, "#rules-text", BROKEN.replace("blok", "block"))
    wait_for(driver, "#check-status", "no problems")
    assert not driver.find_elements("css selector", ".diag")
    assert not driver.find_elements("css selector", "#rules-marks mark")


def test_evaluating_a_payload_shows_the_verdict_the_rules_and_the_trace(console):
    driver, url = console
    _playground(driver, url)
    _select(driver, "#rules-file", "tools.rules")
    _select(driver, "#hook", "tool_pre_invoke")
    _type(driver, "#payload", json.dumps({"tool": {"name": "shell", "args": {"cmd": "rm -rf /"}}}))
    driver.find_element("css selector", "#evaluate").click()
    outcome = wait_for(driver, "#outcome", "block by no_rm code SHELL_RM")
    assert "destructive shell command" in outcome.text
    assert "block" in driver.find_element("css selector", "tr[data-rule='no_rm']").text
    assert "rule no_rm (tools.rules:1" in driver.find_element("css selector", "#explanation").text
    screenshot(driver, "console-playground-evaluate")
    _type(driver, "#payload", json.dumps({"tool": {"name": "shell", "args": {"cmd": "ls"}}}))
    driver.find_element("css selector", "#evaluate").click()
    wait_for(driver, "#outcome .badge.allow")


def test_a_recorded_call_prefills_the_hook_and_payload(console):
    driver, url = console
    _playground(driver, url)
    calls = driver.find_elements("css selector", "#prefill optgroup[label='recorded calls'] option")
    blocked = next(o for o in calls if "tool_pre_invoke block by no_rm" in o.text)
    _select(driver, "#prefill", blocked.get_attribute("value"))
    wait_for(driver, "#hook-facts", "tool.name")
    assert driver.find_element("css selector", "#hook").get_property("value") == "tool_pre_invoke"
    payload = json.loads(driver.find_element("css selector", "#payload").get_property("value"))
    assert payload["facts"] == {"tool": {"name": "shell", "args": {"cmd": "rm -rf /"}}}
    driver.find_element("css selector", "#evaluate").click()
    wait_for(driver, "#outcome", "block by no_rm code SHELL_RM")


def test_the_corpus_page_shows_each_case_and_its_snapshot(console):
    driver, url = console
    driver.get(url.split("/?")[0] + "/corpus")
    wait_for(driver, "#corpus-summary", "0 failing")
    row = wait_for(driver, "tr[data-case='tool_pre_invoke/rm']")
    assert "block by no_rm code SHELL_RM" in row.text and "pass" in row.text
    row.click()
    snap = wait_for(driver, "#case-snapshot", "no_rm: block code SHELL_RM")
    assert "cpex: block by no_rm" in snap.text
    screenshot(driver, "console-corpus")


def test_the_corpus_with_a_playground_edit_shows_what_test_would_fail_on(console):
    driver, url = console
    _playground(driver, url)
    _select(driver, "#rules-file", "tools.rules")
    text = driver.find_element("css selector", "#rules-text").get_property("value")
    _type(driver, "#rules-text", text.replace('block "destructive', 'warn "destructive'))
    driver.find_element("css selector", "#corpus-with-edit").click()
    wait_for(driver, "#corpus-summary", "1 failing")
    assert (
        "edit of tools.rules (not saved)" in driver.find_element("css selector", "#edit-note").text
    )
    assert "fail" in wait_for(driver, "tr[data-case='tool_pre_invoke/rm']").text
    assert not driver.find_elements(
        "css selector", "tr[data-case='tool_pre_invoke/ls']"
    )  # failing only
    problems = wait_for(driver, "#case-problems", "rule no_rm: expected 'block code SHELL_RM'")
    assert "got 'warn code SHELL_RM'" in problems.text
    diff = driver.find_element("css selector", "pre.diff").text
    assert "-  no_rm: block code SHELL_RM" in diff and "+  no_rm: warn code SHELL_RM" in diff
    screenshot(driver, "console-corpus-diff")
