"""Outcome notifications on SNS: a message a person can read by e-mail, the JSON document for machines."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from handler import aws, log

SUBJECT_LIMIT = 100  # SNS refuses longer subjects, and any non-ASCII one
ELLIPSIS = "..."
UNNAMED_RENDITION = "default"  # what the handler calls the rendition a deployment without RENDITIONS makes

# Letters NFKD cannot reduce to ASCII, spelled the way a reader of the language would type them ("-": dropped).
_SPELLINGS = (
    (
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяієїґў",
        "a b v g d e e zh z i y k l m n o p r s t u f kh ts ch sh shch - y - e yu ya i ye yi g u",
    ),
    ("αβγδεζηθικλμνξοπρσςτυφχψω", "a v g d e z i th i k l m n x o p r s s t y f ch ps o"),
    ("ßæøœðþłđ", "ss ae o oe d th l d"),
)


def _transliteration() -> dict[int, str]:
    table: dict[int, str] = {}
    for letters, spellings in _SPELLINGS:
        for letter, spelling in zip(letters, spellings.split(), strict=True):
            ascii_spelling = "" if spelling == "-" else spelling
            if len(letter.upper()) == 1:  # "ß".upper() is "SS"
                table[ord(letter.upper())] = ascii_spelling.capitalize()
            table[ord(letter)] = ascii_spelling
    return table


# What the uploader can do about each failure; the error message says what happened.
ADVICE = {
    "not_an_image": "The file is not an image the pipeline reads (JPEG, PNG, GIF, BMP, TIFF, WebP or HEIC). "
    "Convert it to one of these formats and upload it again.",
    "corrupt": "The file is damaged or incomplete. Check that it opens on your computer, "
    "then upload it again (re-export it if it does not open).",
    "too_large": "The image is larger than this deployment accepts. Upload a smaller version, "
    "or ask the operator to raise memorySize, maxPixels or maxInputBytes.",
    "timeout": "The image took longer than the function's time limit. Upload a smaller version, "
    "or ask the operator to raise timeout or memorySize.",
    "rendition_failed": "Some renditions could not be made; the others were written. If a watermark image is "
    "missing, upload it to the destination bucket, then upload this image again.",
    "misconfigured": "The deployment is misconfigured; nothing you upload can succeed until the operator fixes it. "
    "Forward this message to them.",
    "foreign_bucket": "The file is in a bucket this deployment does not process, so nothing was made from it. "
    "Upload it to the deployment's source bucket, or ask the operator to remove the other bucket's event "
    "notification to this function.",
    "storage_refused": "S3 refused to read the file or write its result (the error names the S3 code, e.g. "
    "AccessDenied or KeyTooLongError). Uploading again will not help: forward this message to the operator.",
    "processing_error": "The pipeline failed on this file because of a defect in the pipeline, not a known "
    "problem with the file. Forward this message to the operator: the request id below finds the log line.",
}
DEFAULT_ADVICE = (
    "Upload the file again. If it fails again, forward this message to the operator: "
    "the request id below finds the log line."
)


def ascii_text(text: str) -> str:
    """Printable ASCII for any text: transliterated where a reader could, a short hash where not (e.g. CJK)."""
    # Spelled before decomposing ("й" is "y", not "i"), and after it (an accented Greek vowel is a vowel and a mark).
    table = _transliteration()  # built per call (microseconds), so that no import-time state hides an edit
    folded = unicodedata.normalize("NFKD", text.translate(table)).translate(table)
    parts: list[str] = []
    foreign = ""
    for char in [*folded, ""]:
        if char and not char.isascii() and not unicodedata.combining(char):
            foreign += char
            continue
        if foreign:  # a run of letters with no ASCII spelling still tells names apart
            parts.append("~" + _short_hash(foreign, 4))
            foreign = ""
        if char.isascii():
            parts.append(char if char.isprintable() else "?")
    return "".join(parts)


def _short_hash(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def middle_ellipsis(path: str, limit: int) -> str:
    """`path` within `limit` characters, keeping its file name (and that name's extension) whole if it can."""
    if len(path) <= limit:
        return path
    head, slash, name = path.rpartition("/")
    tail = slash + name
    if len(tail) + len(ELLIPSIS) <= limit:
        return head[: limit - len(ELLIPSIS) - len(tail)] + ELLIPSIS + tail
    room = limit - len(ELLIPSIS)
    return name[: room - room // 2] + ELLIPSIS + name[len(name) - room // 2 :]


def subject(document: Mapping[str, Any]) -> str:
    """ASCII subject of at most 100 characters that names the file and tells any two uploads apart."""
    word = "Image processed" if document["status"] == "success" else "Image FAILED"
    key = document["source_key"]
    tag = f" [{_short_hash(key, 6)}]"
    room = SUBJECT_LIMIT - len(word) - len(": ") - len(tag)
    return f"{word}: {middle_ellipsis(ascii_text(key), room)}{tag}"


def readable_bytes(count: int) -> str:
    """A byte count as a person reads it: 980 bytes, 12.3 kB, 4.5 MB."""
    if count < 1000:
        return f"{count} bytes"
    value = count / 1000
    for unit in ("kB", "MB"):
        if value < 999.95:  # what would print as 1000.0 is the next unit's 1.0
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def object_link(bucket: str, key: str, *, region: str, cdn_domain: str = "") -> str:
    """Where a person opens an object: its CDN URL when there is one, else its page in the S3 console."""
    if cdn_domain:
        return f"https://{cdn_domain}/{quote(key)}"
    query = urlencode({"region": region, "prefix": key} if region else {"prefix": key}, quote_via=quote)
    return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?{query}"


def _dimensions(size: Any) -> str:
    return f"{size[0]} x {size[1]}"


def renditions(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every rendition an outcome document names (none for a failure, or a document without the field)."""
    return list(document.get("renditions") or ())


def email_text(document: Mapping[str, Any], *, region: str, cdn_domain: str) -> str:
    """The e-mail body: what happened to which file, the sizes, where the result is or what to do."""
    key = document["source_key"]
    if document["status"] == "success":
        lines = [f"Your image {key} was processed.", ""]
        if document["original_size"]:
            original = f"{document['source_format']} {_dimensions(document['original_size'])}"
            lines.append(f"Original: {original}, {readable_bytes(document['bytes_in'])}")
        for rendition in renditions(document):
            name = "" if rendition["name"] == UNNAMED_RENDITION else f" {rendition['name']}"
            size = f"{_dimensions(rendition['size'])}, {readable_bytes(rendition['bytes'])}"
            link = object_link(document["destination_bucket"], rendition["key"], region=region, cdn_domain=cdn_domain)
            lines += [f"Result{name}: {rendition['format'].upper()} {size}", f"  {link}"]
    else:
        error_type = document["error_type"]
        lines = [
            f"Your image {key} could not be processed.",
            "",
            f"What went wrong ({error_type}): {document['error_message'] or 'no detail'}",
            "",
            f"What to do: {ADVICE.get(error_type, DEFAULT_ADVICE)}",
            "",
            "The uploaded file:",
            f"  {object_link(document['source_bucket'], key, region=region)}",
        ]
    request_id = document["request_id"] or "-"
    lines += ["", f"Took {document['duration_ms']} ms. Request id (for the operator's logs): {request_id}"]
    return "\n".join(lines) + "\n"


def message(document: Mapping[str, Any], *, region: str, cdn_domain: str) -> str:
    """The SNS message for MessageStructure=json: e-mail text for people, the JSON document for every other
    protocol (SNS sends `default` to any protocol the message does not name)."""
    return json.dumps(
        {"default": json.dumps(document), "email": email_text(document, region=region, cdn_domain=cdn_domain)}
    )


def publish(topic_arn: str, document: Mapping[str, Any], *, region: str, cdn_domain: str) -> bool:
    """Publish one outcome; a failure is logged and reported as False, never raised."""
    status = document["status"]
    try:
        aws.sns().publish(
            TopicArn=topic_arn,
            Subject=subject(document),
            Message=message(document, region=region, cdn_domain=cdn_domain),
            MessageStructure="json",
            MessageAttributes={"status": {"DataType": "String", "StringValue": status}},
        )
    except (BotoCoreError, ClientError) as error:
        log.error("notification not sent", error=str(error), status=status, source_key=document["source_key"])
        return False
    return True
