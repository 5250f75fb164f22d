#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) that misbehaves on purpose, for the mail delivery tests.

    smtp_server.py --port P --maildir DIR [--reject SUBSTR] [--tempfail N] [--sleep SECONDS]

- every accepted mail is written to the maildir DIR (as aiosmtpd's Mailbox handler does) and
  its Message-ID appended to DIR/../received.log, one per line, flushed at once;
- --reject SUBSTR: RCPT TO of an address containing SUBSTR is answered 550 (unknown mailbox);
- --tempfail N: the first N messages are answered 451 at DATA (then mail is accepted);
- --sleep SECONDS: each message is held this long before it is answered (a slow server).

Prints "ready" on stdout once it listens. Ends on SIGTERM/SIGKILL. Stopping it (no listener)
is how a test makes connections fail.
"""

import argparse
import asyncio
import email
import mailbox
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, args):
        self.args = args
        self.tempfail = args.tempfail
        self.box = mailbox.Maildir(args.maildir, create=True)
        self.log = os.path.join(os.path.dirname(os.path.abspath(args.maildir)), "received.log")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.args.reject and self.args.reject in address:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.args.sleep:
            await asyncio.sleep(self.args.sleep)
        if self.tempfail > 0:
            self.tempfail -= 1
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content)
        self.box.add(message)
        with open(self.log, "a", encoding="utf-8") as f:
            f.write((message.get("Message-ID") or "?") + "\n")
            f.flush()
            os.fsync(f.fileno())
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--maildir", required=True)
    p.add_argument("--reject", default="")
    p.add_argument("--tempfail", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.0)
    args = p.parse_args()
    controller = Controller(Handler(args), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    # Bounded: a forgotten server ends by itself after an hour.
    deadline = time.monotonic() + 3600
    while not stop and time.monotonic() < deadline:
        time.sleep(0.1)
    controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
