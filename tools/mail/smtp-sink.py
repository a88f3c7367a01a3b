#!/usr/bin/env python3
"""A loopback SMTP server for authd's mail tests and benchmark (aiosmtpd).

Writes each accepted message to DIR as one file (tmp name, then renamed), with the envelope
and the session first:

    X-Sink-Mail-From: <sender>
    X-Sink-Rcpt-To: <recipient>[, ...]
    X-Sink-TLS: yes|no
    X-Sink-Auth: <login>|none
    <the message as received>

Prints "listening on 127.0.0.1:PORT" once it accepts connections (with --port 0, the port
the system chose).

Options: --tls-cert/--tls-key offer STARTTLS (and then require it); --auth USER:PASS requires
AUTH (only over TLS, aiosmtpd's default); --reject-while FILE answers 550 to every recipient
while FILE exists.
"""
import argparse
import asyncio
import os
import socket
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory, reject_while):
        self.directory = directory
        self.reject_while = reject_while
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_while and os.path.exists(self.reject_while):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{time.time_ns()}-{self.count}.eml"
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else "none"
        head = (
            f"X-Sink-Mail-From: {envelope.mail_from}\r\n"
            f"X-Sink-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
            f"X-Sink-TLS: {'yes' if session.ssl is not None else 'no'}\r\n"
            f"X-Sink-Auth: {login}\r\n"
        ).encode()
        temporary = os.path.join(self.directory, "." + name)
        with open(temporary, "wb") as file:
            file.write(head + envelope.original_content)
        os.rename(temporary, os.path.join(self.directory, name))
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--auth")
    parser.add_argument("--reject-while")
    arguments = parser.parse_args()
    os.makedirs(arguments.dir, exist_ok=True)

    context = None
    if arguments.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
    authenticator = None
    if arguments.auth:
        user, password = arguments.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            # handled=False: aiosmtpd answers a refused login with 535 itself (by default it
            # would leave the answer to this function, and the client would wait for one).
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    sink = Sink(arguments.dir, arguments.reject_while)

    def factory():
        return SMTP(
            sink,
            hostname="sink.test",
            tls_context=context,
            require_starttls=context is not None,
            authenticator=authenticator,
            auth_required=authenticator is not None,
            auth_require_tls=True,
        )

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", arguments.port))
    listener.listen(128)

    async def serve():
        server = await asyncio.get_running_loop().create_server(factory, sock=listener)
        print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
