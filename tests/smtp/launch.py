"""A real SMTP server for the tests: aiosmtpd, optionally with AUTH (one user) and TLS
(STARTTLS or TLS from the first byte) under a certificate for 127.0.0.1/localhost signed by a
throw-away trustme CA, whose PEM is written to --ca-out for the client to trust.

Every message received is written to --maildir as NNNN.eml (the bytes as received), with
NNNN.json beside it (envelope sender and recipients, the login used, whether the session was
encrypted); the .eml is written last, by rename, so a reader never sees half a message.
"""

import argparse
import json
import os
import pathlib
import signal
import ssl
import threading

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, maildir: pathlib.Path):
        self.maildir = maildir
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            base = self.maildir / f"{self.count:04d}"
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login,
            # STARTTLS sets session.ssl; TLS from the first byte shows on the transport.
            "encrypted": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
        }
        base.with_suffix(".json").write_text(json.dumps(meta))
        partial = base.with_suffix(".part")
        partial.write_bytes(envelope.original_content or envelope.content)
        os.replace(partial, base.with_suffix(".eml"))
        return "250 Message accepted for delivery"


def authenticator_for(user: str, password: str):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--security", choices=["none", "starttls", "tls"], default="none")
    parser.add_argument("--ca-out", help="where to write the test CA's PEM (TLS modes)")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    maildir = pathlib.Path(args.maildir)
    maildir.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if args.security != "none":
        ca = trustme.CA()
        ca.cert_pem.write_to_path(args.ca_out)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        if args.security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        else:
            kwargs.update(ssl_context=context)
    if args.user:
        kwargs.update(
            authenticator=authenticator_for(args.user, args.password or ""),
            auth_required=True,
            # Over "none" the tests still exercise AUTH against a relay on this machine.
            auth_require_tls=args.security != "none",
        )
    controller = Controller(
        Saver(maildir), hostname="127.0.0.1", port=args.port, server_hostname="localhost", **kwargs
    )
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
