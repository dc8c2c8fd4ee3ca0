"""The rollout dashboard in a real headless chromium, served by a real `guardrails ui`
on a log a capturing policy wrote: Plotly draws the fires from the log, the gate
table answers as `promote` does, the replay panel shows what the candidate newly
blocks. The screenshot is docs/rollout.md's (copied to docs/images/ by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.tooling.rollout import promote

from .browser import chromium_driver, console_server, need_browser, screenshot, wait_for
from .rollout_traffic import CANDIDATE, SECRET, write_traffic

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    need_browser()
    log = tmp_path_factory.mktemp("dash") / "decisions.jsonl"
    sent = write_traffic(log)
    with (
        console_server(CANDIDATE.relative_to(ROOT), "--decisions", log) as url,
        chromium_driver(tmp_path_factory) as driver,
    ):
        driver.get(url)  # the token's page load: the page cookie, the token kept by the page
        wait_for(driver, "body[data-ready='1']")
        driver.get(url.split("/?", 1)[0] + "/dashboard")
        wait_for(driver, "body[data-dashboard=ready]")
        yield driver, log, sent


def count(driver, css: str) -> int:
    return int(driver.execute_script(f"return document.querySelectorAll({css!r}).length"))


def test_the_plots_are_drawn_from_the_log(dashboard):
    driver, _, sent = dashboard
    # stacked bars, one trace per rule that fired, over the three days' hourly buckets
    assert count(driver, "#plot-fires svg.main-svg") >= 1
    assert count(driver, "#plot-fires .barlayer .trace") == 3
    drawn = driver.execute_script(
        "return document.getElementById('plot-fires').data.map(t => t.x.length)"
    )
    assert drawn == [72, 72, 72]
    # Plotly draws a flat bar for an empty hour: risky_shell's (the busiest) tall ones
    # are the hours its calls were made in
    tall = driver.execute_script(
        "return [...document.querySelectorAll('#plot-fires .barlayer .trace')].map(t =>"
        " [...t.querySelectorAll('path')].filter(p => {"
        "  const m = /^M[\\d.]+,([\\d.]+)V([\\d.]+)/.exec(p.getAttribute('d') || '');"
        "  return m && m[1] !== m[2]; }).length)"
    )
    assert tall[0] == len(sent.risky_hours)
    legend = driver.find_element("css selector", "#plot-fires .legend").text
    assert "risky_shell (tool_pre_invoke)" in legend
    # the audit rule is picked first: its would-blocks as bars, its rate as a line
    picked = driver.find_element("css selector", "#rule-pick option:checked").text
    assert picked == "risky_shell (tool_pre_invoke)"
    bars = driver.execute_script(
        "return document.getElementById('plot-rule').data[0].y.reduce((a, b) => a + b, 0)"
    )
    assert bars == sent.risky and count(driver, "#plot-rule .barlayer .point") > 0
    assert count(driver, "#plot-rule .scatterlayer .trace path.point") == 72
    assert "would-block rate" in driver.find_element("css selector", "#plot-rule .legend").text
    assert SECRET not in driver.page_source


def test_the_tables_and_the_gate_answer_as_the_cli(dashboard):
    driver, log, sent = dashboard
    row = driver.find_element("css selector", "#rules-table tr[data-rule=risky_shell]").text
    assert f"{sent.risky}" in row and "RISKY_SHELL" in row
    cli = promote(CANDIDATE, "risky_shell", [log], 0.05, 100, dry_run=True)
    gate = driver.find_element("css selector", "#gates-table tr[data-rule=risky_shell]")
    cells = [c.text for c in gate.find_elements("css selector", "td")]
    assert cells[:3] == ["risky_shell", str(cli.evaluations), str(cli.would_blocks)]
    assert cells[5] == ("pass" if cli.allowed else "fail")
    # a stricter gate, applied in the page: the same reasons as promote gives
    for field, value in (("max-rate", "0.001"), ("min-samples", "100000")):
        box = driver.find_element("id", field)
        box.clear()
        box.send_keys(value)
    driver.find_element("css selector", "#gate-form button").click()
    strict = promote(CANDIDATE, "risky_shell", [log], 0.001, 100_000, dry_run=True)
    wait_for(driver, "#gates-table tr[data-rule=risky_shell]", strict.reasons[0])
    command = driver.find_element("css selector", "#gates-table td.cmd").text
    assert "--rules examples/rollout/candidate --decisions" in command  # RULES as typed
    assert "--max-rate 0.001 --min-samples 100000" in command


def test_the_replay_panel_shows_the_newly_blocked(dashboard):
    driver, _, sent = dashboard
    wait_for(driver, "body[data-replay=ready]")
    summary = driver.find_element("id", "replay-summary").text
    assert f"{sent.mid_budget} changed" in summary and "0 not replayable" in summary
    row = driver.find_element("css selector", "#replay-body tr[data-rule=budget]")
    assert row.text.startswith(f"budget {sent.mid_budget} 0 0")
    examples = row.find_elements("css selector", ".example")
    assert len(examples) == 3
    assert "allow → block by budget code BUDGET — prompt over the 3000-token budget" in (
        examples[0].text
    )
    # the page as a whole, for the docs: back to the default gate first
    for field, value in (("max-rate", "0.1"), ("min-samples", "300")):
        box = driver.find_element("id", field)
        box.clear()
        box.send_keys(value)
    driver.find_element("css selector", "#gate-form button").click()
    wait_for(driver, "#gates-table tr[data-rule=risky_shell]", "ready to promote")
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd(  # the whole page, taller than any window
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": int(height), "deviceScaleFactor": 1, "mobile": False},
    )
    shot = screenshot(driver, "dashboard")
    assert shot.stat().st_size > 10_000


def test_the_playgrounds_edit_can_be_replayed_instead(dashboard):
    """An edit typed in the playground (never saved) stays in the tab's sessionStorage;
    the dashboard then offers to replay it: here the candidate's budget put back to
    4000 tokens."""
    from selenium.webdriver.support.ui import Select

    driver, _, sent = dashboard
    base = driver.current_url.split("/dashboard", 1)[0]
    driver.get(base + "/")
    wait_for(driver, "body[data-ready='1']")
    Select(driver.find_element("id", "rules-file")).select_by_value("budget.rules")
    area = driver.find_element("id", "rules-text")
    assert "tokens > 3000" in area.get_attribute("value")
    area.clear()  # typed, as a user would: the page keeps the edit on every keystroke
    area.send_keys((CANDIDATE / "budget.rules").read_text().replace("3000", "4000"))
    driver.get(base + "/dashboard")
    wait_for(driver, "body[data-replay=ready]")
    button = wait_for(driver, "#replay-edits", "budget.rules")
    calls = sum(sent.calls.values())
    # by default against the saved rules (the candidate's 3000): the edit's own change
    button.click()
    wait_for(driver, "#replay-summary", "the playground's edit against the saved rules")
    summary = driver.find_element("id", "replay-summary").text
    assert f"{calls} calls replayed, 0 not replayable, {sent.mid_budget} changed" in summary
    row = driver.find_element("css selector", "#replay-body tr[data-rule=budget]")
    assert row.text.startswith(f"budget 0 {sent.mid_budget} 0")  # newly allowed
    # against what the log recorded (written at 4000): nothing changes
    Select(driver.find_element("id", "replay-against")).select_by_value("recorded")
    button.click()
    wait_for(driver, "#replay-summary", "against what the log recorded")
    summary = driver.find_element("id", "replay-summary").text
    assert f"{calls} calls replayed, 0 not replayable, 0 changed" in summary
    assert not (CANDIDATE / "budget.rules").read_text().count("4000")  # nothing saved


def test_the_docs_show_a_screenshot_the_test_takes():
    """docs/rollout.md shows the dashboard from docs/images/, a copy of this test's
    artifacts/screenshots/dashboard.png."""
    page = (ROOT / "docs" / "rollout.md").read_text()
    assert "](images/console-dashboard.png)" in page
    image = ROOT / "docs" / "images" / "console-dashboard.png"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_edit_on_a_masked_log_is_judged_rule_by_rule(dashboard, tmp_path):
    """Rules with an injection rule that reads the masked prompt: the edited budget
    cannot be replayed whole on a model call, but against the saved rules it is
    judged on its own, and the panel says so."""
    import shutil

    from selenium.webdriver.support.ui import Select

    from .rollout_traffic import RULES

    driver, log, sent = dashboard
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    (rules / "inj.rules").write_text(
        'rule inj on generation_pre_call when prompt contains "ignore previous" block\n'
    )
    with console_server(rules, "--decisions", log) as url:
        driver.get(url)
        wait_for(driver, "body[data-ready='1']")
        Select(driver.find_element("id", "rules-file")).select_by_value("budget.rules")
        area = driver.find_element("id", "rules-text")
        area.clear()
        area.send_keys((rules / "budget.rules").read_text().replace("4000", "3000"))
        driver.get(url.split("/?", 1)[0] + "/dashboard")
        wait_for(driver, "body[data-replay=ready]")
        wait_for(driver, "#replay-edits", "budget.rules").click()
        alone = wait_for(driver, "#replay-alone", "judged rule by rule")
        model = sent.calls["model"]
        assert f"{model} calls" in alone.text and f"{sent.mid_budget} where" in alone.text
        row = driver.find_element("css selector", "#replay-body tr[data-rule=budget]")
        assert row.text.startswith(f"budget 0 0 0 {sent.mid_budget}")
        assert "rule budget: pass → rule budget: block BUDGET" in row.text
