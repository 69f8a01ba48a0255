"""Fill the running system with demo data through the REST API: `make seed`.

    python scripts/seed.py [--url http://127.0.0.1:8000]

Creates a small catalogue (a coffee and kitchen shop), four customers and
three confirmed orders, by the same HTTP requests any client sends, so the
orders reserve stock and the inventory and shipping services see their events.

Safe to run again: each record is looked up first (a customer by email, a
product by its exact name) and only missing ones are created; a customer's
orders are placed only if that customer has no orders yet. Nothing is ever
changed or deleted.

The gateway defaults to http://$GATEWAY_ADDRESS (127.0.0.1:8000), as for
`make up`. Exits 1 with a message if it cannot be reached or answers an error.
Standard library only.
"""
import argparse
import http.client
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

REQUEST_TIMEOUT_SECONDS = 15

PRODUCTS = [
    {"name": "Ceramic pour-over dripper", "price": "24.90", "stock": 40,
     "description": "Hand-glazed stoneware dripper for size 02 paper filters."},
    {"name": "French press 1 l", "price": "39.50", "stock": 25,
     "description": "Double-walled stainless steel, keeps coffee hot for an hour."},
    {"name": "Yirgacheffe coffee beans 250 g", "price": "12.80", "stock": 120,
     "description": "Washed Ethiopian single origin, light roast: bergamot and jasmine."},
    {"name": "Hand burr grinder", "price": "54.00", "stock": 15,
     "description": "Conical steel burrs, 40 grind settings from espresso to cold brew."},
    {"name": "Gooseneck kettle 0.9 l", "price": "44.00", "stock": 18,
     "description": "Stovetop kettle with a thermometer in the lid and a precise spout."},
    {"name": "Cast iron teapot 0.8 l", "price": "46.00", "stock": 12,
     "description": "Enamelled inside, with a removable stainless steel infuser."},
    {"name": "Sencha green tea 100 g", "price": "9.95", "stock": 80,
     "description": "First flush loose-leaf tea from Shizuoka, Japan."},
    {"name": "Linen tea towels, set of 3", "price": "18.90", "stock": 60,
     "description": "Stonewashed European linen, 50 x 70 cm."},
    {"name": "Enamel mug 350 ml", "price": "11.20", "stock": 100,
     "description": "Steel with a glossy enamel coat and a rolled rim."},
    {"name": "Digital kitchen scale", "price": "21.50", "stock": 35,
     "description": "Weighs to 0.1 g up to 3 kg, with a built-in brewing timer."},
]

CUSTOMERS = [
    {"name": "Lena Fischer", "email": "lena.fischer@example.com", "phone": "+49 30 901820",
     "address": {"street": "Oranienstraße 25", "city": "Berlin", "postal_code": "10999", "country": "DE"}},
    {"name": "Tomás Ortega", "email": "tomas.ortega@example.com", "phone": "+34 912 345 678",
     "address": {"street": "Calle de Alcalá 42", "city": "Madrid", "postal_code": "28014", "country": "ES"}},
    {"name": "Priya Raman", "email": "priya.raman@example.com", "phone": "+91 80 4123 4567",
     "address": {"street": "12 Residency Road", "city": "Bengaluru", "postal_code": "560025", "country": "IN"}},
    {"name": "Jonas Berg", "email": "jonas.berg@example.com", "phone": "+47 22 33 44 55",
     "address": {"street": "Markveien 35", "city": "Oslo", "postal_code": "0554", "country": "NO"}},
]

# Each order names its customer by email and its products by name.
ORDERS = [
    {"customer": "lena.fischer@example.com",
     "items": [("Yirgacheffe coffee beans 250 g", 2), ("Ceramic pour-over dripper", 1)]},
    {"customer": "tomas.ortega@example.com",
     "items": [("French press 1 l", 1), ("Hand burr grinder", 1)]},
    {"customer": "priya.raman@example.com",
     "items": [("Enamel mug 350 ml", 2), ("Sencha green tea 100 g", 3), ("Linen tea towels, set of 3", 1)]},
]


class SeedError(Exception):
    pass


class Api:
    """JSON over HTTP to the gateway; every failure becomes a SeedError."""

    def __init__(self, base_url, timeout=REQUEST_TIMEOUT_SECONDS):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def request(self, method, path, body=None, params=None):
        """(status, decoded JSON body) of a request answered with any status."""
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except urllib.error.URLError as exc:
            raise SeedError(self._unreachable(exc.reason)) from None
        except (OSError, http.client.HTTPException) as exc:
            raise SeedError(self._unreachable(exc)) from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            raise SeedError(f"{method} {path} answered {status} with a body that is not JSON: {raw[:200]!r}") from None

    def call(self, method, path, body=None, params=None, expect=200):
        """The JSON body of a request that must answer ``expect``."""
        status, answer = self.request(method, path, body, params)
        if status != expect:
            raise SeedError(f"{method} {path} answered {status}: {_describe(answer)}")
        return answer

    def find_all(self, path, params):
        """Every item of a list route, page after page."""
        page = 1
        while True:
            answer = self.call("GET", path, params={**params, "page": page, "page_size": 100})
            yield from answer["items"]
            if page * answer["page_size"] >= answer["total"]:
                return
            page += 1

    def _unreachable(self, reason):
        return f"cannot reach the gateway at {self.base_url} ({reason}); is the system running (`make up`)?"


def _describe(answer):
    if isinstance(answer, dict) and "error" in answer:
        text = f"{answer['error']}: {answer.get('message', '')}"
        return text + (f" {json.dumps(answer['details'])}" if answer.get("details") else "")
    return json.dumps(answer)[:200]


def check_health(api):
    status, answer = api.request("GET", "/health")
    if status == 200:
        return
    services = answer.get("services", {}) if isinstance(answer, dict) else {}
    down = sorted(name for name, state in services.items() if state != "ok")
    if down:
        raise SeedError(f"the system at {api.base_url} is not healthy: {', '.join(down)} unavailable")
    raise SeedError(f"GET /health answered {status}: {_describe(answer)}")


def find_product(api, name):
    # q is a substring search on name and description; only the exact name counts.
    for product in api.find_all("/products", {"q": name, "sort": "created_at"}):
        if product["name"] == name:
            return product
    return None


def find_customer(api, email):
    for customer in api.find_all("/customers", {"q": email}):
        if customer["email"].lower() == email.lower():
            return customer
    return None


def ensure_products(api, tally):
    ids = {}
    for spec in PRODUCTS:
        product = find_product(api, spec["name"])
        if product is None:
            product = api.call("POST", "/products", spec, expect=201)
            tally.created("products")
        else:
            tally.present("products")
        ids[spec["name"]] = product["id"]
    return ids


def ensure_customers(api, tally):
    ids = {}
    for spec in CUSTOMERS:
        customer = find_customer(api, spec["email"])
        if customer is None:
            status, answer = api.request("POST", "/customers", spec)
            if status == 201:
                customer = answer
                tally.created("customers")
            elif status == 409 and isinstance(answer, dict) and answer.get("error") == "EMAIL_ALREADY_EXISTS":
                # created meanwhile by someone else, or under another case
                customer = find_customer(api, spec["email"])
                tally.present("customers")
            if customer is None:
                raise SeedError(f"POST /customers answered {status}: {_describe(answer)}")
        else:
            tally.present("customers")
        ids[spec["email"]] = customer["id"]
    return ids


def ensure_orders(api, tally, product_ids, customer_ids):
    for email in dict.fromkeys(spec["customer"] for spec in ORDERS):
        planned = [spec for spec in ORDERS if spec["customer"] == email]
        customer_id = customer_ids[email]
        existing = api.call("GET", "/orders", params={"customer_id": customer_id, "page_size": 1})
        if existing["total"]:
            tally.present("orders", len(planned))
            continue
        for spec in planned:
            body = {
                "customer_id": customer_id,
                "items": [{"product_id": product_ids[name], "quantity": quantity} for name, quantity in spec["items"]],
            }
            order = api.call("POST", "/orders", body, expect=201)
            if order["status"] != "confirmed":
                raise SeedError(f"the order {order['id']} for {email} is {order['status']}, not confirmed")
            tally.created("orders")


class Tally:
    KINDS = ("products", "customers", "orders")

    def __init__(self):
        self.counts = {kind: {"created": 0, "present": 0} for kind in self.KINDS}

    def created(self, kind, n=1):
        self.counts[kind]["created"] += n

    def present(self, kind, n=1):
        self.counts[kind]["present"] += n

    def summary(self):
        lines = [f"  {kind:<10} {c['created']:>3} created, {c['present']:>3} already present"
                 for kind, c in self.counts.items()]
        created = sum(c["created"] for c in self.counts.values())
        if created:
            lines.append(f"Done: {created} records created.")
        else:
            lines.append("Done: nothing created; everything was already present.")
        return "\n".join(lines)


def default_url(env=os.environ):
    return f"http://{env.get('GATEWAY_ADDRESS', '127.0.0.1:8000')}"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fill the running system with demo data through its REST API.")
    parser.add_argument("--url", default=default_url(),
                        help="the gateway's base URL (default: http://$GATEWAY_ADDRESS, %(default)s)")
    args = parser.parse_args(argv)
    if urllib.parse.urlparse(args.url).scheme not in ("http", "https"):
        parser.error(f"--url must be an http(s) URL, not {args.url!r}")

    api = Api(args.url)
    tally = Tally()
    print(f"Seeding {api.base_url}", flush=True)
    try:
        check_health(api)
        product_ids = ensure_products(api, tally)
        customer_ids = ensure_customers(api, tally)
        ensure_orders(api, tally, product_ids, customer_ids)
    except SeedError as exc:
        print(f"seed: error: {exc}", file=sys.stderr)
        return 1
    print(tally.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
