"""Browser tests of the Evento console (/ui), with Playwright driving Debian's Chromium.

Run by ConsoleTests.swift against a real `evento serve` with the bank's functions registered, and a second
server with an admin token. Prints one line per scenario; exits non-zero on the first failure. Screenshots
go to --out (git-ignored).

  python3 console_test.py --url http://127.0.0.1:PORT --token-url http://127.0.0.1:PORT2 --token T \
      --mode-file /tmp/mode --dead-entity flag:1 --out test-artifacts/console
"""
import argparse
import json
import os
import shutil
import sys
import threading
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--token-url", required=True)
ap.add_argument("--token", required=True)
ap.add_argument("--mode-file", required=True)
ap.add_argument("--dead-command", required=True, help="id of a command that died because its handler failed")
ap.add_argument("--out", required=True)
args = ap.parse_args()
os.makedirs(args.out, exist_ok=True)
expect.set_options(timeout=15_000)


def call(method, path, body=None, base=None):
    req = urllib.request.Request((base or args.url) + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def step(name):
    print("console:", name, flush=True)


errors = []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    # A script error or a CSP refusal fails the run.
    page.on("pageerror", lambda e: errors.append("page error: %s" % e))
    page.on("console", lambda m: errors.append("console %s: %s" % (m.type, m.text)) if m.type == "error" and "Failed to load resource" not in m.text else None)

    # -- The overview updates while commands flow.
    step("overview")
    page.goto(args.url + "/ui")
    head = page.locator("#ov-head")
    expect(head).not_to_have_text("–")
    start = int(head.inner_text().replace(",", ""))
    stop = threading.Event()

    def flow():
        while not stop.is_set():
            call("POST", "/commands?wait=true", {"entity": "checking:ann", "type": "DepositCash", "payload": {"amount": 1}})
            time.sleep(0.05)

    worker = threading.Thread(target=flow)
    worker.start()
    try:
        page.wait_for_function(
            "s => Number(document.querySelector('#ov-head').textContent.replace(/,/g, '')) >= s + 5", arg=start, timeout=20_000)
        page.wait_for_function("() => { const v = document.querySelector('#ov-events').textContent; return v !== '–' && Number(v) > 0 }",
                               timeout=20_000)
        expect(page.locator("#ov-commands")).not_to_have_text("0")
        page.wait_for_timeout(2500)  # a few seconds of chart
        page.screenshot(path=os.path.join(args.out, "overview.png"), full_page=True)
    finally:
        stop.set()
        worker.join()

    # -- Find checking:ann from the search box, with the keyboard.
    step("find checking:ann")
    page.keyboard.press("/")
    page.keyboard.type("checking:an")
    page.keyboard.press("Enter")
    expect(page).to_have_url(args.url + "/ui/entities?prefix=checking%3Aan")
    result = page.locator("#entity-results a", has_text="checking:ann")
    result.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(args.url + "/ui/entities/checking%3Aann")
    expect(page.locator("h1")).to_have_text("checking:ann")
    expect(page.locator("#state")).to_contain_text('"balance"')
    expect(page.locator("#entity-events")).to_contain_text("CashDeposited")
    page.screenshot(path=os.path.join(args.out, "entity.png"), full_page=True)
    # The newest 50 events first; the transfer's withdrawal is on the first page (how many deposits the
    # overview's load made depends on the machine's speed: with fewer than 50 events there is one page).
    first = page.get_by_role("link", name="⇤ first")
    if first.count() > 0:
        first.click()
    expect(page.locator("#entity-events")).to_contain_text("CashWithdrawn")

    # -- The transfer's trace, then through to the deposit.
    step("trace of the transfer")
    page.goto(args.url + "/ui/trace/transfer-1")
    graph = page.locator("#trace-graph")
    # external, TransferRequested, and the saga: WithdrawCash → CashWithdrawn → RecordWithdrawal →
    # WithdrawalRecorded → DepositCash → CashDeposited → RecordDeposit → TransferCompleted, and the timer
    # (TimeoutTransfer, scheduled)
    expect(graph.locator("a.node")).to_have_count(11)
    expect(graph.locator('a.node.external[data-id="web-request-17"]')).to_have_count(1)
    page.screenshot(path=os.path.join(args.out, "trace.png"), full_page=True)
    graph.locator('a.node[data-type="DepositCash"]').click()
    page.wait_for_url("**/ui/commands/**")
    expect(page.locator("h1")).to_have_text("Command DepositCash")
    expect(page.locator("#command-status")).to_have_text("succeeded")
    page.locator("#result-events a").first.click()
    page.wait_for_url("**/ui/events/**")
    expect(page.locator("h1")).to_have_text("Event CashDeposited")
    expect(page.locator("#payload")).to_contain_text('"amount": 30')
    expect(page.locator("#schema")).to_contain_text("CashDeposited")
    page.screenshot(path=os.path.join(args.out, "event.png"), full_page=True)

    # -- A dead letter, retried from the page once the function is fixed.
    step("dead letter retried")
    page.goto(args.url + "/ui/dead-letters")
    row = page.locator('#dead-letters tr[data-id="%s"]' % args.dead_command)
    expect(row).to_contain_text("the function is broken")
    page.screenshot(path=os.path.join(args.out, "dead-letters.png"), full_page=True)
    with open(args.mode_file, "w") as f:
        f.write("ok")
    row.locator("button[data-retry]").click()
    expect(row.locator(".retry-state")).to_contain_text("succeeded")
    assert call("GET", "/commands/" + args.dead_command)["status"] == "succeeded"
    page.goto(args.url + "/ui/commands/" + args.dead_command)
    expect(page.locator("#command-status")).to_have_text("succeeded")

    # -- The other pages render.
    step("functions, schemas, feed")
    page.goto(args.url + "/ui/functions")
    expect(page.locator('#functions tr[data-name="checking-handler"]')).to_contain_text("workers")
    page.screenshot(path=os.path.join(args.out, "functions.png"), full_page=True)
    page.goto(args.url + "/ui/schemas/checking?subject=checking.CashDeposited")
    expect(page.locator("#schema-file")).to_contain_text("CheckingAccount")
    page.screenshot(path=os.path.join(args.out, "schemas.png"), full_page=True)
    page.goto(args.url + "/ui/events")
    expect(page.locator("main table tbody tr").first).to_be_visible()
    page.screenshot(path=os.path.join(args.out, "feed.png"), full_page=True)
    page.goto(args.url + "/ui/commands?status=dead")
    expect(page.locator("main")).to_contain_text("No dead commands.")

    # -- Projectors: state, lag, a rebuild from the page; a view's documents.
    step("projectors and views")
    page.goto(args.url + "/ui/projectors")
    row = page.locator('#projectors tr[data-name="balances"]')
    expect(row).to_contain_text("running")
    page.screenshot(path=os.path.join(args.out, "projectors.png"), full_page=True)
    row.locator('button[data-action="rebuild"]').click()
    for _ in range(100):
        state = call("GET", "/projectors/balances")
        if state["generation"] == 2 and state["state"] == "running":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the rebuild did not swap: %s" % state)
    page.goto(args.url + "/ui/projectors")
    expect(page.locator('#projectors tr[data-name="balances"] td').nth(4)).to_have_text("2")
    page.goto(args.url + "/ui/views/balances?prefix=checking:")
    expect(page.locator("#documents")).to_contain_text("checking:ann")
    expect(page.locator("#documents")).not_to_contain_text("savings:ann")

    # -- With an admin token: the console asks for it, and keeps it out of the address.
    step("token prompt")
    tpage = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
    tpage.on("pageerror", lambda e: errors.append("page error: %s" % e))
    tpage.goto(args.token_url + "/ui/functions")
    dialog = tpage.locator("#token-dialog")
    expect(dialog).to_be_visible()
    tpage.screenshot(path=os.path.join(args.out, "token.png"))
    tpage.fill("#token-input", "wrong")
    tpage.keyboard.press("Enter")
    expect(dialog).to_be_visible()  # refused: asked again
    expect(tpage.locator("#token-reason")).to_contain_text("refused")
    tpage.fill("#token-input", args.token)
    tpage.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(tpage.locator("#functions")).to_contain_text("checking-handler")
    assert args.token not in tpage.url
    stored = tpage.evaluate("sessionStorage.getItem('evento.adminToken')")
    assert stored == args.token, stored

    browser.close()

if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print("console: all scenarios passed", flush=True)
