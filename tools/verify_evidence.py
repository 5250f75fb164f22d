#!/usr/bin/env python3
"""A second verifier for Confidant signature evidence, written from signature/FORMAT.md alone.

    verify_evidence.py DOCUMENT EVIDENCE --public-key FILE [--public-key FILE ...] [--tsa-ca PEM]
        prints the verdict as JSON; exit 0 valid, 1 invalid, 2 usage error or not an evidence file
        (as `confidant signature verify`). With --tsa-ca a seal time-stamp's TSA certificate must
        chain to PEM (checked with `openssl ts -verify`); without it the chain is not checked.
    verify_evidence.py --corpus DIR
        checks every case of DIR/manifest.json (written by the Rust test
        `evidence_corpus_for_the_second_verifier`) and fails unless this verifier agrees with
        `confidant signature verify` on each: exit status, verdict, reason, chain index and
        fault, parse fault and path, time-stamp fault and what the time-stamp says.

Needs python3, `cryptography` (Ed25519, the time-stamp's signature) and `asn1crypto` (RFC 3161
tokens), and the `openssl` command for a time-stamp's certificate chain. Section numbers refer
to FORMAT.md.
"""

import base64
import binascii
import calendar
import hashlib
import json
import math
import re
import subprocess
import sys
import tempfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EVIDENCE_FORMAT = "confidant-signature-evidence/1"
KINDS = {"document_shown": 1, "consent_given": 2, "capture_started": 3, "capture_ended": 4,
         "submitted": 5, "sealed": 6, "archived": 7}
AFTER_SEAL = ("sealed", "archived")
POINTER_TYPES = ("pen", "touch", "mouse")
METHODS = ("handwritten", "typed_name")
# The bundle members only a handwritten signature (version 1) has, and only a typed name
# (version 2) has (§6.3, §6.4); each version leaves the other's out.
HANDWRITTEN_MEMBERS = ("time_series_format", "biometric_envelope", "image_sha256",
                       "capture_context")
TYPED_NAME_MEMBERS = ("method", "typed_name")
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX16 = re.compile(r"[0-9a-f]{16}")
INT_TOKEN = re.compile(r"-?(0|[1-9][0-9]*)")


class Fault(Exception):
    """A strict-reading fault (§6.1)."""

    def __init__(self, fault, path, message=""):
        super().__init__(f"{fault} at `{path}`: {message}")
        self.fault, self.path = fault, path


class Num:
    """A number token, kept as written."""

    def __init__(self, text):
        self.text = text
        self.is_int = INT_TOKEN.fullmatch(text) is not None

    def value(self):
        return int(self.text) if self.is_int else float(self.text)


class Obj(list):
    """An object as its (key, value) pairs in document order."""


def join(path, key):
    return f"{path}.{key}" if path else key


# ---------------------------------------------------------------------------- §6.0 canonical JSON
def f64_text(v):
    """The canonical spelling of a finite double (§6.0)."""
    if v == 0:
        return "-0.0" if math.copysign(1.0, v) < 0 else "0.0"
    r = repr(v)  # shortest round-trip digits
    sign = ""
    if r.startswith("-"):
        sign, r = "-", r[1:]
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    digits = ip + fp
    lead = len(digits) - len(digits.lstrip("0"))
    e = len(ip) + int(exp or 0) - 1 - lead
    d = digits.strip("0") or "0"
    if -5 <= e <= 15:
        if e >= 0:
            n = e + 1
            body = d + "0" * (n - len(d)) + ".0" if len(d) <= n else d[:n] + "." + d[n:]
        else:
            body = "0." + "0" * (-e - 1) + d
    else:
        body = d[0] + ("." + d[1:] if len(d) > 1 else "") + "e" + ("+" if e > 0 else "") + str(e)
    return sign + body


def canonical_number(num):
    """How the canonical writer spells the number this token reads as."""
    if num.is_int:
        v = int(num.text)
        if -(2 ** 63) <= v < 2 ** 64:
            return str(v)
    return f64_text(float(num.text))


SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                 "\t": "\\t"}


def write_string(s):
    out = ['"']
    for c in s:
        if c in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def canonical(v):
    """Canonical JSON of a strictly read value (numbers are then already canonical)."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, Num):
        return v.text
    if isinstance(v, str):
        return write_string(v)
    if isinstance(v, list) and not isinstance(v, Obj):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v, key=lambda k: k.encode("utf-8"))
        return "{" + ",".join(write_string(k) + ":" + canonical(v[k]) for k in keys) + "}"
    raise TypeError(type(v))


# ---------------------------------------------------------------------------- §6.1 strict reading
def read(data):
    """Parse JSON; return (value with dicts, faults: duplicate keys then number spellings)."""
    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    try:
        tree = json.loads(data.decode("utf-8"), object_pairs_hook=Obj, parse_int=Num,
                          parse_float=Num, parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise Fault("syntax", "", str(e))
    dups, numbers = [], []

    def walk(node, path):
        if isinstance(node, Obj):
            out, seen = {}, set()
            for k, v in node:
                p = join(path, k)
                out[k] = walk(v, p)
                if k in seen:
                    dups.append(Fault("duplicate_key", p, f"the key `{k}` appears more than once"))
                seen.add(k)
            return out
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, Num):
            if canonical_number(node) != node.text:
                numbers.append(Fault("non_canonical_number", path, node.text))
        return node

    return walk(tree, ""), dups + numbers


def is_under(path, prefix):
    return (not prefix or path == prefix or
            (path.startswith(prefix) and path[len(prefix)] in ".["))


class Typed:
    """Reads one part against its type (§6.3, §5, §7); collects `not_canonical` places."""

    def __init__(self):
        self.not_canonical = []

    def struct(self, v, path, fields, omitted=()):
        """Every member of `fields` present, except those of `omitted`: members a bundle
        version does not have, left out (never `null`: a `null` is written differently)."""
        if not isinstance(v, dict):
            raise Fault("invalid_value", path, "expected an object")
        for k in sorted(v):
            if k not in fields:
                raise Fault("unknown_field", join(path, k), f"unknown field `{k}`")
            if k in omitted and v[k] is None:
                self.not_canonical.append(join(path, k))
                continue
            fields[k](v[k], join(path, k))
        for k in fields:
            if k not in v and k not in omitted:
                raise Fault("missing_field", join(path, k), f"missing field `{k}`")
        return v

    def integer(self, lo, hi):
        def check(v, path):
            if not isinstance(v, Num) or not v.is_int or not lo <= int(v.text) <= hi:
                raise Fault("invalid_value", path, "expected an integer in range")
        return check

    def float_(self, v, path):
        if not isinstance(v, Num):
            raise Fault("invalid_value", path, "expected a number")
        if v.is_int:
            self.not_canonical.append(path)

    def optional(self, inner):
        def check(v, path):
            if v is not None:
                inner(v, path)
        return check

    @staticmethod
    def string(v, path):
        if not isinstance(v, str):
            raise Fault("invalid_value", path, "expected a string")

    @staticmethod
    def boolean(v, path):
        if not isinstance(v, bool):
            raise Fault("invalid_value", path, "expected true or false")

    def matching(self, pattern):
        def check(v, path):
            if not isinstance(v, str) or not pattern.fullmatch(v):
                raise Fault("invalid_value", path, f"expected {pattern.pattern}")
        return check

    @staticmethod
    def b64(min_len=0, exact=None):
        def check(v, path):
            if not isinstance(v, str):
                raise Fault("invalid_value", path, "expected base64")
            try:
                raw = base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise Fault("invalid_value", path, "expected canonical base64")
            if base64.b64encode(raw).decode() != v:
                raise Fault("invalid_value", path, "expected canonical base64")
            if (exact is not None and len(raw) != exact) or len(raw) < min_len:
                raise Fault("invalid_value", path, "wrong length")
        return check

    def array(self, inner):
        def check(v, path):
            if not isinstance(v, list):
                raise Fault("invalid_value", path, "expected an array")
            for i, x in enumerate(v):
                inner(x, f"{path}[{i}]")
        return check

    def one_of(self, names):
        def check(v, path):
            if v not in names:
                raise Fault("invalid_value", path, f"expected one of {names}")
        return check

    def finish(self):
        if self.not_canonical:
            raise Fault("not_canonical", sorted(self.not_canonical)[0], "written differently")


U64, I64, U32, U8 = (0, 2 ** 64 - 1), (-(2 ** 63), 2 ** 63 - 1), (0, 2 ** 32 - 1), (0, 255)


def sealed_type(t):
    hex64, hex16 = t.matching(HEX64), t.matching(HEX16)
    pointer = t.array(t.one_of(POINTER_TYPES))
    capture = lambda v, p: t.struct(v, p, {
        "user_agent": t.optional(t.string), "pointer_types": pointer,
        "declared_pointer_types": pointer, "canvas_width": t.float_, "canvas_height": t.float_,
        "pixel_ratio": t.optional(t.float_), "client_started_at_ms": t.optional(t.integer(*I64)),
        "stroke_count": t.integer(*U64), "point_count": t.integer(*U64)})
    envelope = lambda v, p: t.struct(v, p, {
        "version": t.integer(*U8), "recipient_key_id": hex16,
        "ephemeral_public": t.b64(exact=32), "nonce": t.b64(exact=12),
        "ciphertext": t.b64(min_len=16)})
    typed_name = lambda v, p: t.struct(v, p, {
        "text": t.string, "declaration": t.string, "declaration_language": t.string,
        "declaration_accepted": t.boolean, "allowed_by_request": t.boolean,
        "client_typing_started_at_ms": t.optional(t.integer(*I64)),
        "client_typing_ended_at_ms": t.optional(t.integer(*I64)),
        "user_agent": t.optional(t.string)})
    bundle = lambda v, p: t.struct(v, p, {
        "version": t.integer(*U32), "key_id": hex16, "document_sha256": hex64,
        "form_data_sha256": hex64, "binding_sha256": hex64, "time_series_format": t.string,
        "biometric_envelope": envelope, "image_sha256": hex64, "signer_name": t.string,
        "capture_context": capture, "server_received_at_ms": t.integer(*I64),
        "sealed_at_ms": t.integer(*I64), "audit_head": hex64,
        "audit_event_count": t.integer(*U64), "method": t.one_of(METHODS),
        "typed_name": typed_name}, omitted=HANDWRITTEN_MEMBERS + TYPED_NAME_MEMBERS)
    return lambda v, p: t.struct(v, p, {"bundle": bundle, "key_id": hex16,
                                        "bundle_sha256": hex64, "signature": t.b64(exact=64)})


def audit_type(t):
    hex64 = t.matching(HEX64)
    event = lambda v, p: t.struct(v, p, {
        "seq": t.integer(*U64), "kind": t.one_of(tuple(KINDS)), "at_ms": t.integer(*I64),
        "detail": t.string, "prev_hash": hex64, "hash": hex64})
    return lambda v, p: t.struct(v, p, {"genesis": hex64, "events": t.array(event)})


def form_type(t):
    def check(v, path):
        if not isinstance(v, dict):
            raise Fault("invalid_value", path, "expected an object of strings")
        for k in sorted(v):
            t.string(v[k], join(path, k))
    return check


def part(faults, value, path, make_type):
    """A part's first fault (from reading, then by type), or None."""
    for f in faults:
        if is_under(f.path, path):
            return f
    t = Typed()
    try:
        make_type(t)(value, path)
        t.finish()
    except Fault as f:
        return f
    return None


# ---------------------------------------------------------------------------- hashes (§5, §6, §7)
def sha256(data):
    return hashlib.sha256(data).digest()


def genesis(context):
    c = context.encode("utf-8")
    return sha256(b"confidant-audit-genesis-v1\0" + len(c).to_bytes(4, "big") + c)


def event_hash(e, prev):
    d = e["detail"].encode("utf-8")
    return sha256(b"confidant-audit-v1\0" + int(e["seq"].text).to_bytes(8, "big")
                  + bytes([KINDS[e["kind"]]]) + int(e["at_ms"].text).to_bytes(8, "big", signed=True)
                  + len(d).to_bytes(4, "big") + d + prev)


def key_id(public):
    return sha256(public)[:8].hex()


# ---------------------------------------------------------------------------- §8 verification
class Invalid(Exception):
    def __init__(self, reason, **extra):
        super().__init__(reason)
        self.result = {"valid": False, "reason": reason, **extra}


def malformed(reason, f, chain=False):
    extra = {"parse_fault": f.fault, "parse_path": f.path}
    if chain:
        m = re.search(r"events\[(\d+)\]", f.path)
        extra.update(chain_index=int(m.group(1)) if m else 0, chain_fault="malformed")
    return Invalid(reason, **extra)


def chain_broken(index, fault):
    return Invalid("chain_broken", chain_index=index, chain_fault=fault)


def verify(evidence_bytes, document, trusted, tsa_ca=None):
    """The verdict dict; raises Fault when the bytes are not an evidence file (§9)."""
    value, faults = read(evidence_bytes)
    parts = ("sealed", "form_data", "audit", "request_id", "image_svg", "seal_timestamp")
    for f in faults:
        if not any(is_under(f.path, p) for p in parts):
            raise f
    if not isinstance(value, dict):
        raise Fault("invalid_value", "", "expected an evidence file object")
    shell = ("format", "request_id", "sealed", "form_data", "audit")
    for k in value:
        if k not in shell + ("image_svg", "seal_timestamp"):
            raise Fault("unknown_field", k, "unknown field")
    for k in shell:
        if k not in value:
            raise Fault("missing_field", k, "missing field")
    if value["format"] != EVIDENCE_FORMAT:
        raise Fault("invalid_value", "format", f"expected {EVIDENCE_FORMAT}")
    try:
        return check(value, faults, document, trusted, tsa_ca)
    except Invalid as i:
        return i.result


def signing_method(bundle):
    """§6.4: version 1 is handwritten (its members, no method), version 2 a typed name (method
    and typed_name, none of the handwritten members); anything else no server builds."""
    version = int(bundle["version"].text)
    handwritten = [k in bundle for k in HANDWRITTEN_MEMBERS]
    typed = [k in bundle for k in TYPED_NAME_MEMBERS]
    if version == 1 and all(handwritten) and not any(typed):
        return "handwritten"
    if version == 2 and all(typed) and not any(handwritten) and bundle["method"] == "typed_name":
        return "typed_name"
    raise Invalid("bundle_changed")


def method_summary(bundle, method):
    if method == "typed_name":
        return "typed name with declaration"
    n = int(bundle["capture_context"]["stroke_count"].text)
    return f"handwritten with {n} stroke{'' if n == 1 else 's'}"


# Rust's str::trim: the Unicode White_Space property (Python's str.strip also strips the
# separators U+001C..U+001F, which are not White_Space).
WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def rust_trim(s):
    return s.strip(WHITE_SPACE)


def check(value, faults, document, trusted, tsa_ca):
    sealed = value["sealed"]
    f = part(faults, sealed, "sealed", sealed_type)
    if f:
        raise malformed("bundle_changed", f)
    bundle = sealed["bundle"]
    if sealed["key_id"] not in trusted:
        raise Invalid("unknown_key")
    digest = sha256(canonical(bundle).encode("utf-8"))
    if digest.hex() != sealed["bundle_sha256"]:
        raise Invalid("bundle_changed")
    message = (b"confidant-signature/seal/v1\0" + sealed["key_id"].encode("ascii") + digest)
    try:
        trusted[sealed["key_id"]].verify(base64.b64decode(sealed["signature"]), message)
    except InvalidSignature:
        raise Invalid("seal_invalid")
    binding = sha256(b"confidant-signature/binding/v1\0" + bytes.fromhex(bundle["document_sha256"])
                     + bytes.fromhex(bundle["form_data_sha256"]))
    if bundle["key_id"] != sealed["key_id"] or binding.hex() != bundle["binding_sha256"]:
        raise Invalid("bundle_changed")
    retired = trusted[sealed["key_id"]].retired_at_ms
    if retired is not None and int(bundle["sealed_at_ms"].text) > retired:
        raise Invalid("key_retired")
    method = signing_method(bundle)
    if method == "typed_name":
        typed = bundle["typed_name"]
        if typed["allowed_by_request"] is not True:
            raise Invalid("typed_name_not_allowed")
        if typed["declaration_accepted"] is not True or not rust_trim(typed["declaration"]):
            raise Invalid("declaration_missing")
    if sha256(document).hex() != bundle["document_sha256"]:
        raise Invalid("document_changed")
    f = part(faults, value["form_data"], "form_data", form_type)
    if f:
        raise malformed("form_data_changed", f)
    if sha256(canonical(value["form_data"]).encode("utf-8")).hex() != bundle["form_data_sha256"]:
        raise Invalid("form_data_changed")
    f = part(faults, value["audit"], "audit", audit_type)
    if f:
        raise malformed("chain_broken", f, chain=True)
    f = part(faults, value["request_id"], "request_id", lambda t: t.string)
    if f:
        raise malformed("chain_broken", f, chain=True)
    audit = value["audit"]
    if genesis(value["request_id"]).hex() != audit["genesis"]:
        raise chain_broken(0, "genesis_mismatch")
    events = audit["events"]
    prev, prev_at = bytes.fromhex(audit["genesis"]), None
    for i, e in enumerate(events):
        if int(e["seq"].text) != i:
            raise chain_broken(i, "seq_mismatch")
        if e["prev_hash"] != prev.hex():
            raise chain_broken(i, "prev_hash_mismatch")
        if event_hash(e, prev).hex() != e["hash"]:
            raise chain_broken(i, "hash_mismatch")
        at = int(e["at_ms"].text)
        if prev_at is not None and at < prev_at:
            raise chain_broken(i, "time_went_backwards")
        prev, prev_at = bytes.fromhex(e["hash"]), at
    count = int(bundle["audit_event_count"].text)
    head = bundle["audit_head"]
    ok = (audit["genesis"] == head) if count == 0 else (
        count <= len(events) and events[count - 1]["hash"] == head)
    if not ok:
        raise chain_broken(max(0, min(count - 1, len(events) - 1)), "head_mismatch")
    for i, e in enumerate(events[count:]):
        if e["kind"] not in AFTER_SEAL:
            raise chain_broken(count + i, "kind_after_seal")
    if "image_svg" in value and value["image_svg"] is not None:
        f = part(faults, value["image_svg"], "image_svg", lambda t: t.string)
        if f:
            raise malformed("image_changed", f)
        # A typed name has no image_sha256: no image belongs to it.
        if sha256(value["image_svg"].encode("utf-8")).hex() != bundle.get("image_sha256"):
            raise Invalid("image_changed")
    verdict = {"valid": True, "key_id": sealed["key_id"], "bundle_sha256": digest.hex(),
               "signer_name": bundle["signer_name"], "method": method,
               "method_summary": method_summary(bundle, method), "audit_head": head,
               "audit_event_count": count,
               "events_after_seal": [e["kind"] for e in events[count:]]}
    if "seal_timestamp" in value and value["seal_timestamp"] is not None:
        f = part(faults, value["seal_timestamp"], "seal_timestamp", timestamp_type)
        if f:
            i = malformed("timestamp_invalid", f)
            i.result["timestamp_fault"] = "malformed"
            raise i
        token = base64.b64decode(value["seal_timestamp"]["token"])
        imprint = sha256(base64.b64decode(sealed["signature"]))
        verdict["timestamp"] = check_token(token, imprint, tsa_ca,
                                           int(bundle["sealed_at_ms"].text))
    return verdict


# ---------------------------------------------------------------------------- §10 time-stamps
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
OID_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
CLOCK_SKEW_MS = 5 * 60 * 1000
MAX_DELAY_MS = 24 * 60 * 60 * 1000


def timestamp_type(t):
    return lambda v, p: t.struct(v, p, {"token": t.b64()})


def check_token(der, imprint, tsa_ca, sealed_at_ms):
    """What a valid token says (§10), or raises Invalid("timestamp_invalid", timestamp_fault)."""
    from asn1crypto import cms as acms, tsp as atsp
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

    def bad(fault):
        return Invalid("timestamp_invalid", timestamp_fault=fault)

    hashes_by_oid = {OID_SHA256: hashes.SHA256, "2.16.840.1.101.3.4.2.2": hashes.SHA384,
                     "2.16.840.1.101.3.4.2.3": hashes.SHA512}
    try:
        ci = acms.ContentInfo.load(der, strict=True)
        if ci["content_type"].dotted != OID_SIGNED_DATA:
            raise bad("malformed")
        sd = ci["content"]
        eci = sd["encap_content_info"]
        if eci["content_type"].dotted != OID_TST_INFO or eci["content"].native is None:
            raise bad("malformed")
        tst_bytes = eci["content"].contents
        tst = atsp.TSTInfo.load(tst_bytes, strict=True)
        tst.native
        signers = list(sd["signer_infos"])
        if len(signers) != 1:
            raise bad("malformed")
        si = signers[0]
        si.native
        sid_kind = si["sid"].name
        if sd["version"].native != "v3" or si["version"].native != (
                "v1" if sid_kind == "issuer_and_serial_number" else "v3"):
            raise bad("malformed")
        algs = [a for a in sd["digest_algorithms"]] + [
            si["digest_algorithm"], si["signature_algorithm"],
            tst["message_imprint"]["hash_algorithm"]]
        if any(a["parameters"].native is not None for a in algs):
            raise bad("malformed")
        digest_oid = si["digest_algorithm"]["algorithm"].dotted
        if [a["algorithm"].dotted for a in sd["digest_algorithms"]] != [digest_oid]:
            raise bad("malformed")
    except (ValueError, TypeError, KeyError) as e:
        raise bad("malformed") from e

    mi = tst["message_imprint"]
    if (mi["hash_algorithm"]["algorithm"].dotted != OID_SHA256
            or mi["hashed_message"].native != imprint):
        raise bad("imprint_mismatch")

    attrs = si["signed_attrs"]
    if attrs.native is None:
        raise bad("malformed")

    def attribute(oid):
        found = [a for a in attrs if a["type"].dotted == oid]
        if len(found) != 1 or len(found[0]["values"]) != 1:
            raise bad("malformed")
        return found[0]["values"][0]

    if attribute(OID_CONTENT_TYPE).dotted != OID_TST_INFO:
        raise bad("malformed")
    message_digest = attribute(OID_MESSAGE_DIGEST).native
    if digest_oid not in hashes_by_oid:
        raise bad("unsupported_algorithm")
    h = hashlib.new(hashes_by_oid[digest_oid].name, tst_bytes).digest()
    if message_digest != h:
        raise bad("signature_invalid")
    sig_oid = si["signature_algorithm"]["algorithm"].dotted
    by_sig = {"1.2.840.113549.1.1.1": ("rsa", hashes_by_oid[digest_oid]),
              "1.2.840.113549.1.1.11": ("rsa", hashes.SHA256),
              "1.2.840.113549.1.1.12": ("rsa", hashes.SHA384),
              "1.2.840.113549.1.1.13": ("rsa", hashes.SHA512),
              "1.2.840.10045.4.3.2": ("ec", hashes.SHA256),
              "1.2.840.10045.4.3.3": ("ec", hashes.SHA384),
              "1.3.101.112": ("ed25519", None)}
    if sig_oid not in by_sig or (sig_oid == "1.2.840.113549.1.1.1"
                                 and digest_oid not in hashes_by_oid):
        raise bad("unsupported_algorithm")
    family, sig_hash = by_sig[sig_oid]

    sid = si["sid"].chosen
    signer = None
    for c in sd["certificates"] or []:
        if c.name != "certificate":
            continue
        c = c.chosen
        if sid_kind == "issuer_and_serial_number":
            if (c.issuer.dump() == sid["issuer"].dump()
                    and c.serial_number == sid["serial_number"].native):
                signer = c
                break
        elif c.key_identifier == sid.native:
            signer = c
            break
    if signer is None:
        raise bad("certificate_missing")
    cert = x509.load_der_x509_certificate(signer.dump())
    signed = b"\x31" + attrs.dump()[1:]
    key = cert.public_key()
    try:
        sig = si["signature"].native
        if family == "rsa" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, signed, padding.PKCS1v15(), sig_hash())
        elif family == "ec" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, signed, ec.ECDSA(sig_hash()))
        elif family == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, signed)
        else:
            raise InvalidSignature()
    except InvalidSignature:
        raise bad("signature_invalid")

    # ESS: the signed attributes name the signer's certificate by its hash (RFC 3161 §2.4.1,
    # RFC 5816): signingCertificate (SHA-1) and/or signingCertificateV2 (SHA-256 by default).
    types = [a["type"].dotted for a in attrs]
    v1, v2 = OID_SIGNING_CERTIFICATE in types, OID_SIGNING_CERTIFICATE_V2 in types
    if not v1 and not v2:
        raise bad("malformed")
    cert_der = signer.dump()
    try:
        if v2:
            certs = attribute(OID_SIGNING_CERTIFICATE_V2)["certs"]
            if len(certs) == 0:
                raise bad("certificate_mismatch")
            alg = certs[0]["hash_algorithm"]["algorithm"].dotted
            if alg not in hashes_by_oid:
                raise bad("unsupported_algorithm")
            if certs[0]["cert_hash"].native != hashlib.new(hashes_by_oid[alg].name,
                                                            cert_der).digest():
                raise bad("certificate_mismatch")
        if v1:
            certs = attribute(OID_SIGNING_CERTIFICATE)["certs"]
            if len(certs) == 0 or certs[0]["cert_hash"].native != hashlib.sha1(cert_der).digest():
                raise bad("certificate_mismatch")
    except (ValueError, TypeError, KeyError) as e:
        raise bad("malformed") from e

    gen = tst["gen_time"].native  # fractions of a second kept, read to the millisecond
    gen_time_ms = calendar.timegm(gen.utctimetuple()) * 1000 + gen.microsecond // 1000
    chain = "not_checked"
    if tsa_ca is not None:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            usages = [u.dotted_string for u in eku.value]
        except x509.ExtensionNotFound:
            raise bad("untrusted_tsa")
        if not eku.critical or usages != [OID_TIME_STAMPING]:
            raise bad("untrusted_tsa")
        with tempfile.NamedTemporaryFile(suffix=".der") as f:
            f.write(der)
            f.flush()
            ok = subprocess.run(["openssl", "ts", "-verify", "-digest", imprint.hex(),
                                 "-token_in", "-in", f.name, "-CAfile", tsa_ca],
                                capture_output=True).returncode == 0
        if not ok:
            raise bad("untrusted_tsa")
        chain = "verified"
    if not -CLOCK_SKEW_MS <= gen_time_ms - sealed_at_ms <= MAX_DELAY_MS:
        raise bad("time_mismatch")
    return {"gen_time_ms": gen_time_ms, "serial": tst["serial_number"].contents.hex(),
            "policy": tst["policy"].dotted, "tsa": cert.subject.rfc4514_string(),
            "tsa_chain": chain}


# ---------------------------------------------------------------------------- key files (§7)
def read_public_key(path):
    raw = open(path, "rb").read()
    if len(raw) != 32:
        text = raw.decode("ascii").strip()
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError(f"{path}: expected a 32-byte key")
    return raw


def keys_of_file(path):
    """A published key document (§7) or a single 32-byte key file."""
    raw = open(path, "rb").read()
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("format") == "confidant-signature-keys/1":
        keys = []
        for k in doc["keys"]:
            public = bytes.fromhex(k["public_key"])
            if k["algorithm"] != "Ed25519" or len(public) != 32 or key_id(public) != k["key_id"]:
                raise ValueError(f"{path}: key {k['key_id']} does not match its id")
            until = k["valid_until_ms"]
            keys.append((public, until))
        return keys
    return [(read_public_key(path), None)]


class TrustedKey:
    """A trusted sealing key and when it was retired (the earliest `valid_until_ms` any key
    document gives for it; §7), or None."""

    def __init__(self, raw):
        self.key = Ed25519PublicKey.from_public_bytes(raw)
        self.retired_at_ms = None

    def verify(self, signature, message):
        self.key.verify(signature, message)


def trusted_keys(paths):
    trusted = {}
    for p in paths:
        for raw, until in keys_of_file(p):
            k = trusted.setdefault(key_id(raw), TrustedKey(raw))
            if until is not None:
                k.retired_at_ms = until if k.retired_at_ms is None else min(k.retired_at_ms, until)
    return trusted


def run(document_path, evidence_path, key_paths, tsa_ca=None):
    """(exit status, verdict or error text), as the CLI would give them."""
    try:
        document = open(document_path, "rb").read()
        evidence = open(evidence_path, "rb").read()
        trusted = trusted_keys(key_paths)
    except (OSError, ValueError) as e:
        return 2, str(e)
    try:
        verdict = verify(evidence, document, trusted, tsa_ca)
    except Fault as f:
        return 2, f"not an evidence file: {f}"
    return (0 if verdict["valid"] else 1), verdict


COMPARED = ("valid", "reason", "chain_index", "chain_fault", "parse_fault", "parse_path",
            "audit_head", "audit_event_count", "events_after_seal", "bundle_sha256",
            "method", "method_summary", "timestamp_fault", "timestamp")
# What of a valid time-stamp is compared (the RFC 3339 spelling of gen_time is not).
TIMESTAMP_COMPARED = ("gen_time_ms", "serial", "policy", "tsa", "tsa_chain")


def corpus(directory):
    import os
    manifest = json.load(open(os.path.join(directory, "manifest.json")))
    keys = [os.path.join(directory, k) for k in manifest["public_keys"]]
    document = os.path.join(directory, manifest["document"])
    tsa_ca = os.path.join(directory, manifest["tsa_ca"]) if manifest.get("tsa_ca") else None
    disagreements = 0

    def compared(v):
        out = {k: v[k] for k in COMPARED if k in v}
        if "timestamp" in out:
            out["timestamp"] = {k: out["timestamp"][k] for k in TIMESTAMP_COMPARED}
        return out

    for case in manifest["cases"]:
        own = [os.path.join(directory, k) for k in case.get("public_keys", [])]
        status, verdict = run(document, os.path.join(directory, case["file"]), own or keys,
                              tsa_ca)
        expected = case["expected"]
        mine = {"exit": status}
        if isinstance(verdict, dict):
            mine.update(compared(verdict))
        theirs = {"exit": expected["exit"]}
        theirs.update(compared(expected))
        if mine != theirs:
            disagreements += 1
            print(f"DISAGREE {case['file']}: python {mine} vs confidant {theirs}")
        else:
            print(f"ok {case['file']}: {mine.get('reason', 'valid' if status == 0 else 'refused')}")
    print(f"{len(manifest['cases'])} cases, {disagreements} disagreements")
    return 1 if disagreements or not manifest["cases"] else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "--corpus":
        return corpus(argv[1])
    keys, rest, i, tsa_ca = [], [], 0, None
    while i < len(argv):
        if argv[i] == "--public-key" and i + 1 < len(argv):
            keys.append(argv[i + 1])
            i += 2
        elif argv[i] == "--tsa-ca" and i + 1 < len(argv):
            tsa_ca = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    if len(rest) != 2 or not keys:
        print(__doc__, file=sys.stderr)
        return 2
    status, verdict = run(rest[0], rest[1], keys, tsa_ca)
    if isinstance(verdict, dict):
        print(json.dumps(verdict, indent=2))
    else:
        print(f"error: {verdict}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
