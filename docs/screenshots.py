"""Regenerate the README's screenshots of the HTML report (docs/report.png, docs/report-case.png).

Runs the demo with both regressions planted in a temporary copy of the project (so no report
or cache lands in the tree), opens its report in Debian's headless Chromium through Playwright
(never `playwright install`) and saves the page and one newly failing case's detail view.

    python docs/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COPY = ("examples", "datasets", "baselines", "rubrics", "pyproject.toml")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip
SIZE = {"width": 1280, "height": 1500}


def run_demo(folder: Path) -> Path:
    """The demo's gate with the retriever and guardrail regressions; the path of its report."""
    for name in COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copy2(source, folder / name)
    env = {**os.environ, "LLMGATE_DEMO_REGRESSION": "retriever,guardrail", "NO_COLOR": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--llm-gate", "--llm-gate-no-progress"]
    subprocess.run([*command, "examples/"], cwd=folder, env=env, check=False, capture_output=True)
    report = folder / "reports/llm-gate.html"
    if not report.is_file():
        raise SystemExit("the demo wrote no report; run `pytest --llm-gate examples/` to see why")
    return report


def shoot(report: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("needs Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        page = browser.new_page(viewport=SIZE, color_scheme="light")
        page.goto(report.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        page.screenshot(path=str(DOCS / "report.png"))
        page.click("#cases-head th[data-key='worst']")  # the worst change first
        page.locator("#cases-body tr").first.click()
        page.wait_for_selector("#detail [data-role='output-now']")
        page.screenshot(path=str(DOCS / "report-case.png"))
        browser.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="llmgate-shots-") as folder:
        shoot(run_demo(Path(folder)))
    print(f"wrote {DOCS / 'report.png'} and {DOCS / 'report-case.png'}")


if __name__ == "__main__":
    main()
