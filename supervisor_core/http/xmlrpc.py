"""XML-RPC wire codec: hardened request decoding, response and fault encoding.

Rules of this file:
- Decoding uses the stdlib's ``xmlrpc.client.loads`` (expat), but only after a
  pre-check rejects any document type or entity declaration, so entity expansion
  ("billion laughs", external entities) can never happen whatever expat's version.
  Bodies containing NUL bytes (UTF-16/32 documents, where such a declaration would
  not be visible to a byte search) are rejected too: XML-RPC clients send UTF-8.
- Every malformed request becomes :class:`RequestError` (the server answers 400,
  as supervisord does); nothing else escapes :func:`decode_request`.
- Responses are encoded like supervisord's: no ``<nil/>`` extension, so a None in a
  result is a programming error that surfaces as :class:`TypeError`.
- Every response is well-formed XML 1.0 whatever its strings hold: characters XML
  cannot carry (control characters from a ``<base64>`` name echoed in a fault, say)
  become U+FFFD in the encoded document. The markup ``dumps`` writes never contains
  them, so substituting over the whole document only touches string values.
"""

from __future__ import annotations

import re
import xmlrpc.client
from typing import Any
from xml.parsers.expat import ExpatError

from supervisor_core.http.faults import RpcFault

_FORBIDDEN_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# Characters outside XML 1.0's Char production.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _well_formed(document: str) -> bytes:
    return _XML_INVALID.sub("\ufffd", document).encode("utf-8")


class RequestError(ValueError):
    """The request body is not an acceptable XML-RPC method call."""


def decode_request(body: bytes) -> tuple[str, tuple[Any, ...]]:
    """Decode an XML-RPC ``methodCall`` into ``(method name, params)``.

    Raises:
        RequestError: the body is not well-formed XML-RPC, declares a DTD or an
            entity, or names no method.
    """
    if b"\x00" in body:
        raise RequestError("request body contains NUL bytes (only UTF-8 is accepted)")
    if _FORBIDDEN_DECLARATION.search(body):
        raise RequestError("DOCTYPE and ENTITY declarations are not allowed")
    try:
        params, method = xmlrpc.client.loads(body)
    # loads raises ExpatError for bad XML, ResponseError/Fault (xmlrpc.client.Error)
    # for a bad structure, and ValueError/TypeError/... from its value converters.
    except (ExpatError, xmlrpc.client.Error, ValueError, TypeError, IndexError, KeyError) as e:
        raise RequestError(f"unmarshallable XML-RPC request: {e}") from e
    if not method:
        raise RequestError("XML-RPC request has no methodName")
    return method, params


def encode_response(value: Any) -> bytes:
    """Encode a successful method result as a ``methodResponse`` document."""
    return _well_formed(xmlrpc.client.dumps((value,), methodresponse=True))


class ResultEncodingError(Exception):
    """A method returned a value XML-RPC cannot carry (None, an int over 32 bits): our bug."""

    def __init__(self, method: str) -> None:
        super().__init__(f"XML-RPC method {method}() returned an unmarshallable result")
        self.method = method


def encode_result(method: str, value: Any) -> bytes:
    """``encode_response`` for the result of ``method``.

    Raises:
        ResultEncodingError: ``value`` cannot be encoded (chained to the cause).
    """
    try:
        return encode_response(value)
    except (TypeError, OverflowError, RecursionError) as e:
        raise ResultEncodingError(method) from e


def encode_fault(fault: RpcFault) -> bytes:
    """Encode a fault as a ``methodResponse`` carrying ``<fault>``."""
    return _well_formed(xmlrpc.client.dumps(xmlrpc.client.Fault(int(fault.code), fault.text)))
