import requests
from test_gateway import api, start_stack, port, Api  # noqa

def test_probe(api, port):
    base = f"http://127.0.0.1:{port}"
    for price in ["-0", -0.0, "1e2", "1_000", "+5", "١٢", " 7 ", "5."]:
        r = requests.post(base + "/products", json={"name": "a", "price": price})
        print(repr(price), r.status_code, r.json().get("price"), r.json().get("details"))
    r = requests.get(base + "/products", params={"sort": "price"})
    print([p["price"] for p in r.json()["items"]])
