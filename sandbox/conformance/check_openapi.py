#!/usr/bin/env python3
"""Exercise a running Personio sandbox and validate its responses against Personio's specs.

Usage: check_openapi.py BASE_URL CLIENT_ID CLIENT_SECRET SPEC_DIR

Responses are validated with openapi-core against the official files in SPEC_DIR:
- personio-auth-api.yaml                  POST /v1/auth
- personio-personnel-data-api-oa3.yaml    employees, document categories, document upload
- v2-mirror/credentials-service-api-v2.json  POST /v2/auth/token
- common-components-v2.json               v2 error bodies and `_meta` (the v2
  document-management and webhooks specs are not in SPEC_DIR, so their lists and errors are
  checked against these pieces)

The single employee read (`GET /company/employees/{employee_id}`, 200 and the documented 404) and
`updated_since` are validated against the personnel spec. A webhook delivery (a ping, received
by a local HTTP server here) is validated against the JSON schema Personio publishes for every
webhook payload on developer.personio.de/reference/webhooks, repeated below; the sandbox must be
started with http:// webhook URLs on loopback allowed.

The only change made to the specs: the v1 base `Response` schema says `data` is an object while
the list responses that extend it (allOf) say it is an array; the base's `type` for `data` is
dropped so that list responses can validate at all. Status codes an operation does not document
(401, 429, the employees 400) are validated against the spec's own `ErrorResponse` schema.

Exit status 0 when every check passed; otherwise every failure is printed and the status is 1.
"""

import copy
import json
import queue
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_schema_validator import OAS30Validator

FAILURES = []
CHECKS = 0

# Personio's schema of every webhook payload (developer.personio.de/reference/webhooks), written
# with the OpenAPI 3.0 keywords it uses.
WEBHOOK_PAYLOAD_SCHEMA = {
    "type": "object",
    "properties": {
        "company_id": {"type": "string"},
        "occurred_at": {"type": "string", "format": "date-time"},
        "payload": {"type": "object"},
        "meta": {"type": "object"},
        "event_name": {"type": "string"},
    },
    "required": ["company_id", "occurred_at", "payload", "event_name"],
}


def check(condition, what):
    global CHECKS
    CHECKS += 1
    if not condition:
        FAILURES.append(what)
        print(f"FAIL: {what}", flush=True)


def string_keys(node):
    """YAML reads unquoted status codes (`200:`) as integers; OpenAPI keys are strings."""
    if isinstance(node, dict):
        return {str(key): string_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [string_keys(item) for item in node]
    return node


def load(path):
    text = Path(path).read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else string_keys(yaml.safe_load(text))


def with_server(spec, url):
    spec = copy.deepcopy(spec)
    spec["servers"] = [{"url": url}]
    return spec


def inline_refs(node, schemas):
    """Resolves `#/components/schemas/X` references (for schema-only validation)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            return inline_refs(schemas[ref.rsplit("/", 1)[1]], schemas)
        return {key: inline_refs(value, schemas) for key, value in node.items()}
    if isinstance(node, list):
        return [inline_refs(item, schemas) for item in node]
    return node


def schema_errors(instance, schema):
    return [error.message for error in OAS30Validator(schema).iter_errors(instance)]


class Checker:
    def __init__(self, base, spec_dir):
        self.base = base
        auth = load(spec_dir / "personio-auth-api.yaml")
        personnel = load(spec_dir / "personio-personnel-data-api-oa3.yaml")
        # The one documented contradiction (see module docstring).
        personnel["components"]["schemas"]["Response"]["properties"]["data"].pop("type", None)
        credentials = load(spec_dir / "v2-mirror" / "credentials-service-api-v2.json")
        common = load(spec_dir / "common-components-v2.json")
        self.auth = OpenAPI.from_dict(with_server(auth, f"{base}/v1"))
        self.personnel = OpenAPI.from_dict(with_server(personnel, f"{base}/v1"))
        # openapi-core only parses `application/json` bodies by itself; OAuth errors are
        # `application/problem+json` (JSON by definition, RFC 9457).
        problem_json = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        self.credentials = OpenAPI.from_dict(with_server(credentials, base), config=problem_json)
        self.v1_error = inline_refs(personnel["components"]["schemas"]["ErrorResponse"], personnel["components"]["schemas"])
        common_schemas = common["components"]["schemas"]
        self.v2_error = inline_refs(common_schemas["ErrorResponse"], common_schemas)
        self.v2_list = {
            "type": "object",
            "required": ["_data", "_meta"],
            "properties": {
                "_data": {"type": "array", "items": {"type": "object"}},
                "_meta": inline_refs(common_schemas["MetaObject"], common_schemas),
            },
        }
        pagination = common["components"]["parameters"]["Pagination"]["schema"]
        self.v2_limit_range = (pagination["minimum"], pagination["maximum"], pagination["default"])

    def validate(self, api, response, what):
        try:
            api.validate_response(RequestsOpenAPIRequest(response.request), RequestsOpenAPIResponse(response))
            check(True, what)
        except Exception as error:  # openapi-core raises a family of validation errors
            cause = getattr(error, "__cause__", None)
            details = [str(item.message)[:300] for item in getattr(cause, "schema_errors", [])][:5] or [str(error)[:500]]
            check(False, f"{what}: {type(error).__name__}: {details}")

    def validate_schema(self, body, schema, what):
        errors = schema_errors(body, schema)
        check(not errors, f"{what}: {errors[:3]}")


class WebhookReceiver:
    """A local HTTP server that records webhook deliveries and answers 200."""

    def __init__(self):
        received = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                received.put((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/personio"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout=10):
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        self.server.shutdown()


def check_employee_reads(checker, session, base, bearer, employee_id):
    response = session.get(f"{base}/v1/company/employees/{employee_id}", headers=bearer)
    check(response.status_code == 200, f"single read status {response.status_code}")
    checker.validate(checker.personnel, response, "GET /company/employees/{employee_id} 200")
    check(response.json()["data"]["attributes"]["id"]["value"] == employee_id, "single read id")
    response = session.get(f"{base}/v1/company/employees/987654321", headers=bearer)
    check(response.status_code == 404, f"unknown employee status {response.status_code}")
    checker.validate(checker.personnel, response, "GET /company/employees/{employee_id} 404")
    response = session.get(
        f"{base}/v1/company/employees", params={"updated_since": "2000-01-01T00:00:00"}, headers=bearer
    )
    checker.validate(checker.personnel, response, "GET /company/employees?updated_since 200")
    check(len(response.json()["data"]) == response.json()["metadata"]["total_elements"],
          "updated_since answers the whole selection at once")


def check_webhooks(checker, session, base, v2_bearer):
    receiver = WebhookReceiver()
    try:
        body = {"url": receiver.url, "description": "conformance", "enabled_events": ["person.updated"],
                "status": "ENABLED", "auth_type": "TOKEN", "token": "conformance-token"}
        response = session.post(f"{base}/v2/webhooks", json=body, headers=v2_bearer)
        check(response.status_code == 201, f"create webhook status {response.status_code}: {response.text[:200]}")
        webhook = response.json()
        check(webhook.get("status") == "ENABLED" and webhook.get("auth_type") == "TOKEN", "webhook as created")
        response = session.post(f"{base}/v2/webhooks", json={"url": "ftp://x"}, headers=v2_bearer)
        check(response.status_code in (400, 422), f"invalid webhook status {response.status_code}")
        check(response.headers.get("content-type") == "application/problem+json", "webhook errors are problem+json")
        checker.validate_schema(response.json(), checker.v2_error, "webhook validation error is an ErrorResponse")
        response = session.get(f"{base}/v2/webhooks/00000000-0000-4000-8000-000000000000", headers=v2_bearer)
        check(response.status_code == 404, f"unknown webhook status {response.status_code}")
        checker.validate_schema(response.json(), checker.v2_error, "webhook 404 is an ErrorResponse")
        response = session.get(f"{base}/v2/webhooks", headers=v2_bearer)
        checker.validate_schema(response.json(), checker.v2_list, "webhook list matches _data/_meta")

        response = session.post(f"{base}/v2/webhooks/{webhook['id']}/ping", headers=v2_bearer)
        check(response.status_code == 200, f"ping status {response.status_code}")
        delivery = receiver.next()
        check(delivery is not None, "the ping was delivered")
        if delivery is not None:
            headers, raw = delivery
            authorization = {key.lower(): value for key, value in headers.items()}.get("authorization")
            check(authorization == "conformance-token", f"delivery Authorization is the exact token: {authorization}")
            checker.validate_schema(json.loads(raw), WEBHOOK_PAYLOAD_SCHEMA, "delivered ping matches the webhook schema")
        response = session.get(f"{base}/v2/webhooks/{webhook['id']}/events", headers=v2_bearer)
        checker.validate_schema(response.json(), checker.v2_list, "webhook events match _data/_meta")
        for event in response.json()["_data"]:
            checker.validate_schema(event, WEBHOOK_PAYLOAD_SCHEMA, "listed event matches the webhook schema")
        response = session.get(f"{base}/v2/webhooks/{webhook['id']}/activity", headers=v2_bearer)
        checker.validate_schema(response.json(), checker.v2_list, "webhook activity matches _data/_meta")
        response = session.delete(f"{base}/v2/webhooks/{webhook['id']}", headers=v2_bearer)
        check(response.status_code == 204, f"delete webhook status {response.status_code}")
    finally:
        receiver.close()


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    base, client_id, client_secret, spec_dir = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    checker = Checker(base, spec_dir)
    session = requests.Session()

    # v1 auth, JSON and form bodies.
    response = session.post(f"{base}/v1/auth", json={"client_id": client_id, "client_secret": client_secret})
    check(response.status_code == 200, f"v1 auth (JSON) status {response.status_code}")
    checker.validate(checker.auth, response, "POST /v1/auth (JSON) 200")
    token = response.json()["data"]["token"]
    check(response.json()["data"].get("expires_in") == 86400, "expires_in is 86400")
    response = session.post(f"{base}/v1/auth", data={"client_id": client_id, "client_secret": client_secret})
    check(response.status_code == 200, f"v1 auth (form) status {response.status_code}")
    checker.validate(checker.auth, response, "POST /v1/auth (form) 200")
    bearer = {"Authorization": f"Bearer {token}"}

    # Employees: several pages, a projection, the limit error, the email filter.
    seen = []
    offset = 0
    while True:
        response = session.get(f"{base}/v1/company/employees", params={"limit": 100, "offset": offset}, headers=bearer)
        check(response.status_code == 200, f"employees offset {offset} status {response.status_code}")
        checker.validate(checker.personnel, response, f"GET /company/employees offset={offset} 200")
        body = response.json()
        check(body["metadata"]["current_page"] == offset // 100, f"current_page at offset {offset}")
        seen.extend(employee["attributes"]["id"]["value"] for employee in body["data"])
        offset += 100
        if offset >= body["metadata"]["total_elements"]:
            check(body["metadata"]["total_pages"] == offset // 100, "total_pages")
            break
    check(len(seen) == len(set(seen)) and len(seen) > 100, f"{len(seen)} distinct employees over the pages")
    response = session.get(
        f"{base}/v1/company/employees", params={"limit": 5, "attributes[]": ["first_name", "email"]}, headers=bearer
    )
    checker.validate(checker.personnel, response, "GET /company/employees projection 200")
    keys = {key for employee in response.json()["data"] for key in employee["attributes"]}
    check(keys == {"id", "first_name", "email"}, f"projection keys {sorted(keys)}")
    response = session.get(f"{base}/v1/company/employees", params={"limit": 101}, headers=bearer)
    check(response.status_code == 400, f"limit=101 status {response.status_code}")
    checker.validate_schema(response.json(), checker.v1_error, "employees 400 body is an ErrorResponse")
    check(response.json().get("success") is False, "400 body has success=false")

    check_employee_reads(checker, session, base, bearer, seen[0])

    # 401s.
    for what, headers in [("missing", {}), ("invalid", {"Authorization": "Bearer nope"})]:
        response = session.get(f"{base}/v1/company/employees", headers=headers)
        check(response.status_code == 401, f"{what} token status {response.status_code}")
        checker.validate_schema(response.json(), checker.v1_error, f"401 ({what} token) is an ErrorResponse")

    # Document categories and uploads (201, 404, 422).
    response = session.get(f"{base}/v1/company/document-categories", headers=bearer)
    checker.validate(checker.personnel, response, "GET /company/document-categories 200")
    category_id = response.json()["data"][0]["id"]
    owner = seen[0]
    pdf = ("certificate.pdf", b"%PDF-1.4\n% sandbox conformance\n", "application/pdf")
    form = {"title": "Erste Hilfe Zertifikat", "employee_id": str(owner), "category_id": str(category_id),
            "comment": "Kurs abgeschlossen", "date": "2025-01-31"}
    response = session.post(f"{base}/v1/company/documents", data=form, files={"file": pdf}, headers=bearer)
    check(response.status_code == 201, f"upload status {response.status_code}: {response.text[:200]}")
    checker.validate(checker.personnel, response, "POST /company/documents 201")
    response = session.post(f"{base}/v1/company/documents", data={**form, "category_id": "987654"},
                            files={"file": pdf}, headers=bearer)
    check(response.status_code == 404, f"unknown category status {response.status_code}")
    checker.validate(checker.personnel, response, "POST /company/documents 404")
    response = session.post(f"{base}/v1/company/documents", data={**form, "title": "x" * 256},
                            files={"file": ("malware.exe", b"MZ", "application/octet-stream")}, headers=bearer)
    check(response.status_code == 422, f"invalid upload status {response.status_code}")
    checker.validate(checker.personnel, response, "POST /company/documents 422")

    # v2: token, document list with cursor pagination, errors.
    response = session.post(f"{base}/v2/auth/token", data={"grant_type": "client_credentials",
                                                          "client_id": client_id, "client_secret": client_secret})
    checker.validate(checker.credentials, response, "POST /v2/auth/token 200")
    v2_bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
    response = session.post(f"{base}/v2/auth/token", data={"grant_type": "client_credentials",
                                                          "client_id": client_id, "client_secret": "wrong"})
    check(response.status_code == 400, f"v2 auth with a wrong secret status {response.status_code}")
    checker.validate(checker.credentials, response, "POST /v2/auth/token 400")
    for title in ("second", "third"):
        session.post(f"{base}/v1/company/documents", data={**form, "title": title}, files={"file": pdf}, headers=bearer)
    names = []
    url = f"{base}/v2/document-management/documents?owner_id={owner}&limit=2"
    while url:
        response = session.get(url, headers=v2_bearer)
        check(response.status_code == 200, f"v2 list status {response.status_code}")
        checker.validate_schema(response.json(), checker.v2_list, "v2 document list matches _data/_meta")
        names.extend(document["name"] for document in response.json()["_data"])
        url = response.json()["_meta"].get("links", {}).get("next", {}).get("href")
    check(names == ["Erste Hilfe Zertifikat", "second", "third"], f"v2 cursor pages gave {names}")
    minimum, maximum, _ = checker.v2_limit_range
    for params, what in [({}, "missing owner_id"), ({"owner_id": owner, "limit": maximum + 1}, "limit above max")]:
        response = session.get(f"{base}/v2/document-management/documents", params=params, headers=v2_bearer)
        check(response.status_code == 400, f"v2 list {what} status {response.status_code}")
        checker.validate_schema(response.json(), checker.v2_error, f"v2 list 400 ({what}) is an ErrorResponse")
    response = session.get(f"{base}/v2/document-management/documents", params={"owner_id": owner}, headers=bearer)
    check(response.status_code == 401, f"v2 list with a v1 token status {response.status_code}")
    checker.validate_schema(response.json(), checker.v2_error, "v2 401 is an ErrorResponse")

    check_webhooks(checker, session, base, v2_bearer)

    # 429: the documents budget (60/min) runs out well within 70 calls.
    throttled = None
    for _ in range(70):
        response = session.get(f"{base}/v1/company/document-categories", headers=bearer)
        if response.status_code == 429:
            throttled = response
            break
        checker.validate(checker.personnel, response, "GET /company/document-categories 200 (budget)")
    check(throttled is not None, "document endpoints answer 429 within 70 calls")
    if throttled is not None:
        checker.validate_schema(throttled.json(), checker.v1_error, "429 is an ErrorResponse")
        check(throttled.json().get("success") is False, "429 body has success=false")

    print(f"{CHECKS - len(FAILURES)}/{CHECKS} checks passed", flush=True)
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
