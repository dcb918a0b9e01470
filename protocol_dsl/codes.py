"""Code systems: the aliases rules files use for them, and the URIs FHIR records carry."""

from __future__ import annotations

import re
from typing import Optional

# The alias of each code system, and the URI FHIR uses for it.
SYSTEMS = {
    "LOINC": "http://loinc.org",
    "SNOMED": "http://snomed.info/sct",
    "ICD10": "http://hl7.org/fhir/sid/icd-10",
    "ATC": "http://www.whocc.no/atc",
    "RxNorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "FHIR": "http://hl7.org/fhir",
}

# Other URIs records use for the same codes: ICD-10-CM extends ICD-10 with longer
# codes, so a code set written for ICD-10 (`I21.*`) reads both alike.
_OTHER_URIS = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD10",
    "http://snomed.info/sct/900000000000207008": "SNOMED",
    "http://www.nlm.nih.gov/research/umls/rxnorm/": "RxNorm",
}

# Observations coded in this system, with an input's name as the code, give that input
# its value: how attestations such as consent travel in a FHIR bundle.
INPUT_SYSTEM = "urn:protocol-dsl:input"

# The Patient elements an input can be bound to with `code FHIR "..."`.
FHIR_ELEMENTS = ("Patient.birthDate", "Patient.gender")

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def is_uri(text: str) -> bool:
    """Whether a text has the shape of an absolute URI (a scheme, a colon, no spaces)."""
    return _URI.fullmatch(text) is not None


def uri(system: str) -> str:
    """The URI of a system given as an alias or as a URI."""
    return SYSTEMS.get(system, system)


def alias(system_uri: str) -> Optional[str]:
    """The alias of a system's URI (LOINC for http://loinc.org), or None for another system."""
    for name, known in SYSTEMS.items():
        if known == system_uri:
            return name
    return _OTHER_URIS.get(system_uri)


def same_system(a: str, b: str) -> bool:
    """Whether two system URIs name the same codes."""
    return a == b or (alias(a) is not None and alias(a) == alias(b))
