#!/usr/bin/env python3
"""Parses every message of a maildir with Python's own e-mail and iCalendar parsers (independent
of the server's lettre and ics code) and prints them as JSON for the Rust tests.

    python3 tests/mail/inspect_mail.py MAILDIR
"""
import json
import mailbox
import re
import sys
from email import policy
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

import icalendar

ADDRESS = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


CALENDAR_TYPES = ("text/calendar", "application/ics")


class HtmlLang(HTMLParser):
    """The `lang` attribute of the document's <html> element."""

    def __init__(self):
        super().__init__()
        self.lang = None

    def handle_starttag(self, tag, attrs):
        if tag == "html" and self.lang is None:
            self.lang = dict(attrs).get("lang")


def html_lang(html):
    if html is None:
        return None
    p = HtmlLang()
    p.feed(html)
    return p.lang


def structure(part):
    """The MIME tree as text: multipart/mixed[multipart/alternative[text/plain,...],...]."""
    if part.is_multipart():
        return part.get_content_type() + "[" + ",".join(structure(p) for p in part.iter_parts()) + "]"
    return part.get_content_type()


def ics_of(part):
    cal = icalendar.Calendar.from_ical(part.get_content() if isinstance(part.get_content(), (str, bytes)) else part.get_payload(decode=True))
    events = [c for c in cal.walk("VEVENT")]
    ev = events[0]
    return {
        "method": str(cal.get("METHOD")),
        "content_type": part.get_content_type(),
        "content_type_method": part.get_param("method"),
        "attachment": part.get_content_disposition() == "attachment",
        "filename": part.get_filename(),
        "events": len(events),
        "uid": str(ev.get("UID")),
        "sequence": int(ev.get("SEQUENCE", 0)),
        "status": str(ev.get("STATUS")),
        "dtstart": ev.decoded("DTSTART").isoformat(),
        "dtend": ev.decoded("DTEND").isoformat(),
        "organizer": str(ev.get("ORGANIZER")),
        "attendees": [str(a) for a in (ev.get("ATTENDEE") if isinstance(ev.get("ATTENDEE"), list) else [ev.get("ATTENDEE")]) if a is not None],
        "summary": str(ev.get("SUMMARY")),
    }


def main():
    box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
    out = []
    for key in sorted(box.keys()):
        raw = box.get_bytes(key)
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        text = html = None
        ics = []
        for part in msg.walk():
            ctype = part.get_content_type()
            if part.is_multipart():
                continue
            if ctype in CALENDAR_TYPES:
                ics.append(ics_of(part))
            elif ctype == "text/plain" and text is None:
                text = part.get_content()
            elif ctype == "text/html" and html is None:
                html = part.get_content()
        # Every address anywhere: headers (but the Message-ID, which names the sending host),
        # bodies and calendar parts.
        headers = "\n".join(f"{k}: {v}" for k, v in msg.items() if k.lower() != "message-id")
        calendars = "\n".join(json.dumps(i) for i in ics)
        decoded_all = "\n".join([headers, text or "", html or "", calendars])
        date = msg["Date"]
        out.append({
            "message_id": str(msg["Message-ID"] or ""),
            "date": parsedate_to_datetime(str(date)).isoformat() if date else None,
            "structure": structure(msg),
            "html_lang": html_lang(html),
            "to": [a.addr_spec for a in msg["To"].addresses] if msg["To"] else [],
            "cc": str(msg["Cc"] or ""),
            "bcc": str(msg["Bcc"] or ""),
            "from": [a.addr_spec for a in msg["From"].addresses],
            "subject": str(msg["Subject"]),
            "text": text,
            "html": html,
            "ics": ics,
            "addresses": sorted(set(a.lower() for a in ADDRESS.findall(decoded_all))),
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
