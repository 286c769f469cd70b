"""Drives the simulator with the official Bitvavo Python SDK (python-bitvavo-api 1.4.3) and,
when installed, ccxt; asserts each answer. Exits non-zero on the first failure.

Usage: conformance.py http://127.0.0.1:PORT   (the SDK gets RESTURL = that + "/v2")

The key and secret are the simulator's fixed public demo values (vigil_sim::DEMO_TRADE_KEY /
DEMO_TRADE_SECRET); they are valid nowhere else.
"""

import os
import sys
import uuid

from python_bitvavo_api.bitvavo import Bitvavo, createPostfix

TRADE_KEY = "a7f6f482abf7cfd2468c6ca44c1ea8dd32ece95a712e514c424381c499bf8a09"
TRADE_SECRET = (
    "d40ebd0d67f29c2608974fa49122d7f55f9a26a7974f3de06ab574a1867e13c2"
    "436ad3e73ba7c96cf7d47c4930eac32dbed05cdc1e8cc148f3a7968a4b905d5c"
)
OPERATOR_ID = 543462
failures = []


def check(what, condition, answer):
    if condition:
        print(f"ok   {what}")
    else:
        print(f"FAIL {what}: {answer!r}")
        failures.append(what)


def python_sdk(base):
    bv = Bitvavo({
        "APIKEY": TRADE_KEY,
        "APISECRET": TRADE_SECRET,
        "RESTURL": base + "/v2",
        "WSURL": "ws://127.0.0.1:9/",
        "ACCESSWINDOW": 10000,
    })
    t = bv.time()
    check("time", isinstance(t.get("time"), int) and t["time"] > 1_600_000_000_000, t)

    markets = bv.markets({})
    check("markets (all)", isinstance(markets, list) and any(m.get("market") == "BTC-EUR" for m in markets), markets)
    btc = bv.markets({"market": "BTC-EUR"})
    check("markets (one)", isinstance(btc, dict) and btc.get("tickSize") == "1" and btc.get("status") == "trading", btc)

    balance = bv.balance({})
    eur = [b for b in balance if isinstance(b, dict) and b.get("symbol") == "EUR"] if isinstance(balance, list) else []
    check("balance", len(eur) == 1 and eur[0]["available"] == "1000" and eur[0]["inOrder"] == "0", balance)

    coid = str(uuid.uuid4())
    order = bv.placeOrder("BTC-EUR", "buy", "limit", {
        "amount": "0.001",
        "price": "50000",
        "clientOrderId": coid,
        "operatorId": OPERATOR_ID,
    })
    check(
        "placeOrder (limit, clientOrderId, operatorId)",
        isinstance(order, dict)
        and order.get("status") == "new"
        and order.get("clientOrderId") == coid
        and order.get("operatorId") == OPERATOR_ID
        and order.get("amount") == "0.001"
        and order.get("price") == "50000"
        and isinstance(order.get("created"), int),
        order,
    )
    order_id = order.get("orderId") if isinstance(order, dict) else None

    got = bv.getOrder("BTC-EUR", order_id)
    check("getOrder by orderId", isinstance(got, dict) and got.get("orderId") == order_id, got)

    by_coid = bv.privateRequest("/order", createPostfix({"market": "BTC-EUR", "clientOrderId": coid}), {}, "GET")
    check("get order by clientOrderId", isinstance(by_coid, dict) and by_coid.get("orderId") == order_id, by_coid)

    canceled = bv.cancelOrder("BTC-EUR", order_id, OPERATOR_ID)
    check(
        "cancelOrder with operatorId",
        isinstance(canceled, dict)
        and canceled.get("orderId") == order_id
        and canceled.get("clientOrderId") == coid
        and canceled.get("operatorId") == OPERATOR_ID,
        canceled,
    )
    after = bv.getOrder("BTC-EUR", order_id)
    check("order is canceled", isinstance(after, dict) and after.get("status") == "canceled", after)

    missing = bv.getOrder("BTC-EUR", "1be6d0df-d5dc-4b53-a250-3376f3b393e6")
    check("unknown order gives errorCode 240", isinstance(missing, dict) and missing.get("errorCode") == 240, missing)


def ccxt_checks(base):
    import ccxt  # noqa: PLC0415 (optional dependency)

    ex = ccxt.bitvavo({
        "apiKey": TRADE_KEY,
        "secret": TRADE_SECRET,
        "options": {"operatorId": OPERATOR_ID},
    })
    ex.urls["api"] = {"public": base, "private": base}
    ex.load_markets()
    check("ccxt load_markets", "BTC/EUR" in ex.markets, list(ex.markets)[:5])
    bal = ex.fetch_balance()
    check("ccxt fetch_balance", bal.get("EUR", {}).get("free") == 1000.0, bal.get("EUR"))
    coid = str(uuid.uuid4())
    order = ex.create_order("BTC/EUR", "limit", "buy", 0.001, 50000, {"clientOrderId": coid})
    check("ccxt create_order", order.get("status") == "open", order.get("info"))
    fetched = ex.fetch_order(None, "BTC/EUR", {"clientOrderId": coid})
    check("ccxt fetch_order by clientOrderId", fetched.get("id") == order.get("id"), fetched.get("info"))
    ex.cancel_order(None, "BTC/EUR", {"clientOrderId": coid})
    after = ex.fetch_order(order["id"], "BTC/EUR")
    check("ccxt cancel_order by clientOrderId", after.get("status") == "canceled", after.get("info"))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    base = sys.argv[1].rstrip("/")
    try:
        python_sdk(base)
    except Exception as e:  # noqa: BLE001 (any exception is a conformance failure)
        check("python SDK run without exceptions", False, e)
    if os.environ.get("CCXT") == "1":
        try:
            ccxt_checks(base)
        except Exception as e:  # noqa: BLE001
            check("ccxt run without exceptions", False, e)
    else:
        print("skip ccxt (not installed)")
    if failures:
        print(f"{len(failures)} conformance check(s) failed: {', '.join(failures)}")
        return 1
    print("all conformance checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
