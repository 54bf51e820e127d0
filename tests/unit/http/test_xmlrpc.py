"""The XML-RPC codec: hardened decoding and supervisord-shaped encoding."""

from __future__ import annotations

import contextlib
import xmlrpc.client

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supervisor_core.http.faults import Faults, RpcFault
from supervisor_core.http.xmlrpc import (
    RequestError,
    decode_request,
    encode_fault,
    encode_response,
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<methodCall><methodName>supervisor.getState</methodName>
<params><param><value><string>&lol3;</string></value></param></params></methodCall>"""


def test_decodes_a_method_call_from_the_stdlib_client() -> None:
    """A call as xmlrpc.client marshals it decodes to its name and parameters."""
    body = xmlrpc.client.dumps(("web:web_0", True), "supervisor.startProcess").encode()
    assert decode_request(body) == ("supervisor.startProcess", ("web:web_0", True))


def test_a_call_without_params_has_an_empty_tuple() -> None:
    """A methodCall with no <params> element (allowed by supervisord) has no arguments."""
    body = (
        b"<?xml version='1.0'?><methodCall><methodName>system.listMethods</methodName></methodCall>"
    )
    assert decode_request(body) == ("system.listMethods", ())


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        b'<?xml version="1.0"?><!doctype x><methodCall><methodName>a.b</methodName></methodCall>',
        b'<!ENTITY x SYSTEM "file:///etc/passwd"><methodCall/>',
        b"<! DOCTYPE x><methodCall><methodName>a.b</methodName></methodCall>",
    ],
)
def test_rejects_dtd_and_entity_declarations(body: bytes) -> None:
    """Any DOCTYPE or ENTITY declaration is refused before parsing, so nothing expands."""
    with pytest.raises(RequestError, match="DOCTYPE and ENTITY"):
        decode_request(body)


def test_rejects_utf16_documents_where_declarations_hide_from_byte_search() -> None:
    """A UTF-16 body (NUL bytes) is refused: its declarations would evade the pre-check."""
    body = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><methodCall/>'.encode("utf-16")
    with pytest.raises(RequestError, match="NUL"):
        decode_request(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "unmarshallable"),
        (b"not xml at all", "unmarshallable"),
        (b"<methodCall><methodName>a.b</methodName>", "unmarshallable"),
        (
            b"<methodCall><params><param><value><int>x</int></value></param></params>"
            b"<methodName>a.b</methodName></methodCall>",
            "unmarshallable",
        ),
        (
            b"<methodCall><params><param><value><bogus>1</bogus></value></param></params>"
            b"</methodCall>",
            "unknown tag",
        ),
        (b"<methodCall><params/></methodCall>", "no methodName"),
        (xmlrpc.client.dumps((1,), methodresponse=True).encode(), "no methodName"),
        (xmlrpc.client.dumps(xmlrpc.client.Fault(1, "x")).encode(), "unmarshallable"),
    ],
)
def test_malformed_requests_raise_request_error_only(body: bytes, message: str) -> None:
    """Broken XML, bad values, responses and faults sent as requests are RequestErrors."""
    with pytest.raises(RequestError, match=message):
        decode_request(body)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_another_exception(body: bytes) -> None:
    """Whatever bytes arrive, decoding returns a call or raises RequestError."""
    with contextlib.suppress(RequestError):
        decode_request(body)


_VALUE_TAGS = st.sampled_from(
    [
        "int",
        "i4",
        "i8",
        "boolean",
        "string",
        "double",
        "dateTime.iso8601",
        "base64",
        "nil",
        "array",
        "struct",
        "data",
        "member",
        "name",
        "value",
    ]
)


@given(st.lists(st.tuples(_VALUE_TAGS, st.text(max_size=8)), max_size=6))
def test_arbitrary_value_markup_never_escapes_as_another_exception(
    parts: list[tuple[str, str]],
) -> None:
    """Well-formed but nonsensical value markup is accepted or refused, never a crash."""
    inner = "".join(f"<{tag}>{xmlrpc.client.escape(text)}</{tag}>" for tag, text in parts)
    body = (
        "<methodCall><methodName>a.b</methodName><params><param><value>"
        f"{inner}</value></param></params></methodCall>"
    ).encode()
    with contextlib.suppress(RequestError):
        decode_request(body)


def test_encodes_results_as_a_method_response() -> None:
    """A result round-trips through the stdlib client's parser."""
    value = {"statecode": 1, "statename": "RUNNING", "list": [1, "a", True]}
    assert xmlrpc.client.loads(encode_response(value)) == ((value,), None)


def test_none_results_are_not_encoded() -> None:
    """Like supervisord, no <nil/> extension: a None result is a TypeError (our bug)."""
    with pytest.raises(TypeError):
        encode_response(None)


def test_encodes_faults_with_code_and_text() -> None:
    """A fault reaches the client as xmlrpc.client.Fault with supervisord's code and text."""
    with pytest.raises(xmlrpc.client.Fault) as info:
        xmlrpc.client.loads(encode_fault(RpcFault(Faults.BAD_NAME, "foo")))
    assert info.value.faultCode == 10
    assert info.value.faultString == "BAD_NAME: foo"
