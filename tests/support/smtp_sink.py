"""An SMTP server for loket's tests: stores every message it receives.

Each message becomes NAME.eml with NAME.json beside it (envelope sender,
recipients, whether TLS was on). Listens on loopback with STARTTLS on one port
and implicit TLS on another, both with the test CA's certificate.

With --password-file, a login is required: the user named by --user with the
password the file holds when the client logs in (tests change it while the
server runs). Addresses listed in the folder's refused.txt are refused at RCPT;
a line "@domain REPLY" refuses every address of that domain with that reply.
A number of seconds in the folder's delay.txt slows the answer to every DATA.
"""
import argparse
import asyncio
import base64
import urllib.parse
import urllib.request
import json
import os
import ssl
import time
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, folder):
        self.folder = folder

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # Addresses at nowhere.example.org do not exist: a permanent refusal.
        if address.lower().endswith("@nowhere.example.org"):
            return "550 5.1.1 no such user here"
        try:
            with open(os.path.join(self.folder, "refused.txt")) as f:
                lines = [line.strip().split(" ", 1) for line in f if line.strip()]
        except FileNotFoundError:
            lines = []
        for refused in lines:
            pattern = refused[0].lower()
            if address.lower() == pattern or (pattern.startswith("@") and address.lower().endswith(pattern)):
                return refused[1] if len(refused) > 1 else "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        try:
            with open(os.path.join(self.folder, "delay.txt")) as f:
                await asyncio.sleep(float(f.read().strip() or 0))
        except FileNotFoundError:
            pass
        name = f"{time.time_ns()}-{uuid.uuid4().hex}"
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
        }
        with open(os.path.join(self.folder, name + ".json"), "w") as f:
            json.dump(meta, f)
        tmp = os.path.join(self.folder, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.folder, name + ".eml"))
        return "250 OK stored"


class Login:
    """Checks a login against the password the file holds now."""

    def __init__(self, user, password_file):
        self.user = user
        self.password_file = password_file

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        with open(self.password_file, "rb") as f:
            password = f.read().strip()
        ok = auth_data.login == self.user.encode() and auth_data.password == password
        return AuthResult(success=ok, handled=False)


class OAuthSink(Sink):
    """Takes AUTH XOAUTH2 with a token the introspection endpoint calls active."""

    def __init__(self, folder, introspect):
        super().__init__(folder)
        self.introspect = introspect

    async def auth_XOAUTH2(self, server, args):
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        fields = base64.b64decode(args[1]).decode().split("\x01")
        token = next((f[len("auth=Bearer "):] for f in fields if f.startswith("auth=Bearer ")), "")
        data = urllib.parse.urlencode({"token": token}).encode()
        answer = json.load(urllib.request.urlopen(self.introspect, data, timeout=10))
        return AuthResult(success=answer.get("active") is True, handled=False)


def deny(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=False, handled=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls-port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--user")
    parser.add_argument("--password-file")
    parser.add_argument("--introspect")
    args = parser.parse_args()
    auth = {}
    sink = lambda: Sink(args.dir)
    if args.introspect:
        auth = {"authenticator": deny, "auth_required": True, "auth_exclude_mechanism": ["LOGIN", "PLAIN"]}
        sink = lambda: OAuthSink(args.dir, args.introspect)
    elif args.password_file:
        auth = {"authenticator": Login(args.user, args.password_file), "auth_required": True}

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    starttls = Controller(sink(), hostname="127.0.0.1", port=args.port,
                          tls_context=context, require_starttls=True, **auth)
    implicit = Controller(sink(), hostname="127.0.0.1", port=args.tls_port,
                          ssl_context=context, **auth)
    starttls.start()
    implicit.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        starttls.stop()
        implicit.stop()


if __name__ == "__main__":
    main()
