"""The console's OpenID Connect sign-in (the AWS host's), in headless Chromium, against a stand-in
identity provider and API on 127.0.0.1: the console must send the browser to the authorization
endpoint with PKCE (S256), state and nonce, exchange the code with the verifier, check the
nonce, and call the API with the ID token as its bearer token.

The console's files are served from the repository with the policy the hosts send. Started by
cli/tests/serve.rs; exit 0 when the sign-in worked.
"""

import argparse
import base64
import hashlib
import http.server
import json
import pathlib
import secrets
import tempfile
import threading
import time
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as until
from selenium.webdriver.support.ui import WebDriverWait

CONSOLE = pathlib.Path(__file__).resolve().parents[2] / "common" / "src" / "admin" / "console"
CLIENT_ID = "console-test-client"
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Provider:
    """What the stand-in provider saw."""

    def __init__(self):
        self.codes = {}
        self.tokens = set()
        self.exchanges = []
        self.bearer_calls = []
        self.refused = []


def handler(provider, base):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send(self, status, body=b"", kind="application/json", headers=()):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/console/config.json":
                config = {"auth": "oidc", "issuer": base, "client_id": CLIENT_ID,
                          "authorization_endpoint": f"{base}/authorize",
                          "token_endpoint": f"{base}/token", "scopes": "openid email"}
                return self.send(200, json.dumps(config).encode(), headers=[("Content-Security-Policy", POLICY)])
            if url.path.startswith("/console/"):
                name = url.path.removeprefix("/console/") or "index.html"
                file = CONSOLE / name
                if not file.is_file():
                    return self.send(404, b"no such file", "text/plain")
                return self.send(200, file.read_bytes(), TYPES.get(file.suffix, "text/plain"),
                                 [("Content-Security-Policy", POLICY), ("Referrer-Policy", "no-referrer")])
            if url.path == "/authorize":
                problems = [
                    name for name, ok in [
                        ("response_type", query.get("response_type") == "code"),
                        ("client_id", query.get("client_id") == CLIENT_ID),
                        ("redirect_uri", query.get("redirect_uri") == f"{base}/console/"),
                        ("code_challenge_method", query.get("code_challenge_method") == "S256"),
                        ("code_challenge", len(query.get("code_challenge", "")) == 43),
                        ("state", len(query.get("state", "")) >= 16),
                        ("nonce", len(query.get("nonce", "")) >= 16),
                        ("scope", "openid" in query.get("scope", "").split()),
                    ] if not ok
                ]
                if problems:
                    provider.refused.append(("authorize", problems))
                    return self.send(400, json.dumps({"error": "invalid_request", "fields": problems}).encode())
                code = secrets.token_urlsafe(16)
                provider.codes[code] = query
                target = f"{query['redirect_uri']}?code={code}&state={urllib.parse.quote(query['state'])}"
                return self.send(302, headers=[("Location", target)])
            if url.path == "/openapi.json":
                return self.send(200, b'{"paths": {}}')
            if url.path == "/integrations":
                header = self.headers.get("Authorization", "")
                token = header.removeprefix("Bearer ")
                if token not in provider.tokens:
                    provider.refused.append(("api", header[:20]))
                    return self.send(401, json.dumps({"title": "Unauthorized", "detail": "no valid token"}).encode(), "application/problem+json")
                provider.bearer_calls.append(url.path)
                return self.send(200, b'{"integrations": []}')
            return self.send(404, b'{"detail": "not found"}', "application/problem+json")

        def do_POST(self):
            if self.path != "/token":
                return self.send(404)
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            authorized = provider.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = b64url(hashlib.sha256(verifier.encode()).digest())
            checks = {
                "code": authorized is not None,
                "grant_type": form.get("grant_type") == "authorization_code",
                "client_id": form.get("client_id") == CLIENT_ID,
                "redirect_uri": authorized is not None and form.get("redirect_uri") == authorized["redirect_uri"],
                "pkce": authorized is not None and challenge == authorized["code_challenge"],
            }
            provider.exchanges.append(checks)
            if not all(checks.values()):
                return self.send(400, json.dumps({"error": "invalid_grant", "checks": checks}).encode())
            claims = {"iss": base, "aud": CLIENT_ID, "exp": int(time.time()) + 3600,
                      "nonce": authorized["nonce"], "custom:tenant_id": "acme", "email": "hr@acme.example"}
            token = ".".join([b64url(b'{"alg":"none"}'), b64url(json.dumps(claims).encode()), b64url(b"signature")])
            provider.tokens.add(token)
            return self.send(200, json.dumps({"id_token": token, "token_type": "Bearer", "expires_in": 3600}).encode())

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args()
    provider = Provider()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), None)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.RequestHandlerClass = handler(provider, base)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="console-oidc-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = args.chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=args.chromedriver), options=options)
        try:
            wait = WebDriverWait(driver, 20)
            driver.get(f"{base}/console/")
            wait.until(until.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Sign in']"))).click()
            wait.until(until.text_to_be_present_in_element((By.CSS_SELECTOR, "main h1"), "Integrations"))
            wait.until(until.text_to_be_present_in_element((By.CSS_SELECTOR, "main"), "No integrations yet."))
            assert "code=" not in driver.current_url, "the code is removed from the address bar"
            assert provider.exchanges == [{"code": True, "grant_type": True, "client_id": True, "redirect_uri": True, "pkce": True}], provider.exchanges
            assert provider.bearer_calls, "the API was called with the ID token"
            assert not provider.refused, provider.refused
            stored = driver.execute_script("return sessionStorage.getItem('personio-lms.oidc')")
            assert stored and json.loads(stored)["id_token"] in provider.tokens
            assert driver.execute_script("return document.cookie") == "", "nothing is kept in cookies"
        except Exception:
            print(driver.find_element(By.TAG_NAME, "body").text[:2000])
            raise
        finally:
            driver.quit()
            server.shutdown()
    print("oidc: signed in with code + PKCE", flush=True)


if __name__ == "__main__":
    main()
