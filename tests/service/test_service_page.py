"""The live page in headless Chromium: countdown and order counts as they arrive (no
order ids while the slot is open), then the winning block, payments, proposer revenue
and the history chart."""

import shutil

import httpx
import pytest
from service_harness import ServerProcess

from mevauction.client import Client, Signer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def eth_exact(wei: int) -> str:
    whole, frac = divmod(wei, 10**18)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".") + " ETH"


def check_chart(page, slot: int, url: str) -> None:
    """The history chart has two axes, exact ETH tick labels (the top one the largest
    amount in the history), axis titles and the slot numbers under the bars."""
    rows = httpx.get(f"{url}/v1/slots", params={"limit": 30}).json()
    top_amount = eth_exact(max(int(r[k]) for r in rows for k in ("proposer", "refunds")))
    assert len(page.query_selector_all("#history line.axis")) >= 2
    ticks = [t.text_content() for t in page.query_selector_all("#history text.ytick")]
    assert ticks[0] == "0 ETH" and ticks[-1] == top_amount, ticks
    labels = [t.text_content() for t in page.query_selector_all("#history text.axislabel")]
    assert "ETH" in labels and any(label.startswith("slot") for label in labels)
    assert page.text_content(f"#history text.xtick[data-slot='{slot}']") == str(slot)


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
            # Amounts in ETH at full precision (every wei digit), the wei on hover.
            assert page.text_content("#proposer") == "0.00000000000000003 ETH"
            assert page.get_attribute("#proposer", "title") == "30 wei"
            block = [li.text_content() for li in page.query_selector_all("#block li")]
            assert block[:2] == ["o2", "o1"] and "o9" in block
            payments = page.text_content("#payments")
            assert "0.0000000000000001 ETH" in payments and "0.00000000000000007 ETH" in payments
            assert page.text_content("#dstatus") == "no chain"
            page.wait_for_selector(f"#history rect[data-slot='{slot}']", state="attached", timeout=5000)
            check_chart(page, slot, server.url)
            browser.close()
    finally:
        server.stop()


@pytest.mark.slow
def test_live_page_shows_the_delivered_block_on_a_chain(tmp_path):
    """serve --chain URL: the page names each slot's mined block (number, hash,
    verification), in the last slot's panel and in the history table."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("pyrevm")
    from chain_harness import DEV_KEYS, transfer
    from mevauction.chain.node import Anvil
    from mevauction.eth import secp256k1

    with Anvil() as node:
        server = ServerProcess(f"sqlite:///{tmp_path / 'chain.db'}", slot_seconds=1.5,
                               extra=["--chain", node.url]).start()
        try:
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                page = browser.new_page()
                page.goto(server.url + "/")
                page.wait_for_function("document.getElementById('countdown').textContent !== '–'")
                with Client(server.url, Signer.random()) as c:
                    slot = c.slot()["slot"]
                    key = DEV_KEYS[3]
                    nonce = node.client().nonce(secp256k1.address_of(key))
                    c.send_bundle([transfer(key, nonce, "0x" + "66" * 20, tip=3 * 10**9)], slot)
                page.wait_for_function(f"document.getElementById('lastslot').textContent === '{slot}'",
                                       timeout=30000)
                page.wait_for_function("document.getElementById('dverified').textContent === 'ok'", timeout=15000)
                block = node.client().block(slot)
                assert page.text_content("#dnumber") == str(slot) and page.text_content("#dhash") == block["hash"]
                assert page.text_content("#dstatus") == "mined"
                page.wait_for_selector(f"#delivered tr[data-slot='{slot}']", state="attached", timeout=10000)
                cells = [td.text_content() for td in page.query_selector_all(f"#delivered tr[data-slot='{slot}'] td")]
                assert cells[:5] == [str(slot), str(slot), block["hash"], "mined", "ok"], cells
                report = httpx.get(f"{server.url}/v1/slots/{slot}").json()
                proposer = int(report["proposer"])
                assert cells[5] == eth_exact(proposer) and page.text_content("#proposer") == eth_exact(proposer)
                check_chart(page, slot, server.url)
                browser.close()
        finally:
            server.stop()
