"""`pii(text)`: personal data, found by the ContextForge gateway's Rust PII filter
(`cpex-pii-filter`), plus IBANs (checked by their mod-97 digits), which it lacks.

Chosen over Presidio's pattern recognizers and the regex rules by the figures in
docs/performance.md: Presidio imports spaCy (seconds, hundreds of MB) and its email
recognizer fetches the public suffix list over the network on first use.
"""

from __future__ import annotations

import re
from typing import Any

from ..check.detectors import Detector, Scanner
from ..runtime.findings import Finding
from .spans import char_offsets, finding, ordered, seeing_through_invisibles

# the library's names -> Presidio's, which rule authors know
TYPES = {
    "ssn": "US_SSN",
    "credit_card": "CREDIT_CARD",
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "ip_address": "IP_ADDRESS",
    "passport": "PASSPORT",
    "bank_account": "BANK_ACCOUNT",
    "medical_record": "MEDICAL_RECORD",
    "bsn": "NL_BSN",
}
# measured on the sample: these two fire on licence plates and plain dates
CONFIG: dict[str, Any] = {
    "detect_driver_license": False,
    "detect_date_of_birth": False,
    "max_text_bytes": 104_857_600,  # its maximum; the rule text cap applies first
}
ENTITIES = (*TYPES.values(), "IBAN_CODE")

_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b")


def _iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def ibans(text: str) -> list[Finding]:
    return [
        finding(text, "IBAN_CODE", 1.0, m.start(), m.end())
        for m in _IBAN.finditer(text)
        if _iban_ok(m.group())
    ]


def load() -> Scanner:
    from cpex_pii_filter.pii_filter_rust import PIIDetectorRust

    detector = PIIDetectorRust(CONFIG)

    def scan(text: str) -> tuple[Finding, ...]:
        found = detector.detect(text) or {}
        hits = [(kind, h) for kind, items in found.items() for h in items]
        offsets = char_offsets(text, [o for _, h in hits for o in (h["start"], h["end"])])
        out = [
            finding(
                text, TYPES.get(kind, kind.upper()), 1.0, offsets[h["start"]], offsets[h["end"]]
            )
            for kind, h in hits
        ]
        return ordered([*out, *ibans(text)])

    return seeing_through_invisibles(scan)


DETECTOR = Detector(
    "pii",
    "pii",
    load,
    ENTITIES,
    "personal data: SSNs, payment cards, emails, phone numbers, IP addresses, IBANs",
)
