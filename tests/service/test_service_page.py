"""The live page in headless Chromium: countdown and order counts as they arrive (no
order ids while the slot is open), then the winning block, payments, proposer revenue
and the history chart."""

import shutil

import pytest
from service_harness import ServerProcess

from mevauction.client import Client, Signer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.mark.slow
def test_live_page_follows_a_slot(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    server = ServerProcess(f"sqlite:///{tmp_path / 'page.db'}", slot_seconds=2.0).start()
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(server.url + "/")
            page.wait_for_function("document.getElementById('countdown').textContent !== '–'")
            with Client(server.url, Signer.random()) as c:
                slot = c.slot()["slot"] + 1  # the next slot: never closes before the orders are in
                c.send_order({"id": "o1", "reads": ["k1"], "writes": ["k1"],
                              "bid": {"default": 40, "after": {"o2": 100}}}, slot)
                c.send_order({"id": "o2", "reads": ["k1"], "writes": ["k1"],
                              "bid": {"default": 50, "after": {"o1": 80}}}, slot)
                c.send_order({"id": "o9", "reads": ["k9"], "writes": ["k9"], "bid": 7}, slot)
            # While the slot is open the page counts the orders and names none of them.
            page.wait_for_function("document.getElementById('ordercount').textContent === '3'", timeout=8000)
            page.wait_for_function("document.getElementById('counts').textContent.includes('pending3')",
                                   timeout=5000)
            shown = page.text_content("body")
            assert "order3" in page.text_content("#counts")
            assert not any(i in shown for i in ("o1", "o2", "o9", c.signer.address[2:10]))
            countdown = float(page.text_content("#countdown"))
            assert 0 <= countdown <= 2.0
            # After the deadline: the winning block, payments, proposer revenue, history bars.
            page.wait_for_function(f"document.getElementById('lastslot').textContent === '{slot}'", timeout=15000)
            assert page.text_content("#winner") == "default"
            assert page.text_content("#proposer") == "30 wei"
            # Amounts show rounded; the exact ETH and wei are on hover.
            assert page.get_attribute("#proposer", "title") == "0.00000000000000003 ETH = 30 wei"
            block = [li.text_content() for li in page.query_selector_all("#block li")]
            assert block[:2] == ["o2", "o1"] and "o9" in block
            payments = page.text_content("#payments")
            assert "100" in payments and "70" in payments
            page.wait_for_selector(f"#history rect[data-slot='{slot}']", state="attached", timeout=5000)
            browser.close()
    finally:
        server.stop()
