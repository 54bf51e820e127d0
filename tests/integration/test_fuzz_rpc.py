"""Fuzzed XML-RPC against one real superd (issue 19): hostile input never breaks it.

Every example is one POST to ``/RPC2`` of a live daemon shared by the module: a method
(published, misspelt, private, random) with arguments of every XML-RPC type (integers
far beyond 64 bits, nested arrays and structs, base64, datetimes, huge strings,
control characters), ``system.multicall`` batches of such calls, or a raw body that is
not XML-RPC at all. Properties, checked after each example:

- the answer is never a 5xx: 200 with a well-formed ``methodResponse``, or 400/413;
- every fault code (top level, in a multicall result, as a group operation's
  ``status``) is one of supervisord's own (its ``supervisor.xmlrpc.Faults``);
- a call that fails (400, or every part a fault) changes no process's state or pid;
- the daemon logs no traceback and still answers ``getState``.

The only calls left out are those that would end the experiment (``shutdown`` and
``restart`` with valid arguments, ``removeProcessGroup`` of a stopped group).
``tests/fuzzing.py`` says how to run longer with fresh inputs.
"""

from __future__ import annotations

import base64
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from supervisor_core.http.xmlrpc import RequestError, decode_request
from tests.fuzzing import Answer, free_port, fuzz_settings, request
from tests.integration.superd_harness import Superd, base_config, wait_for
from tests.peers import require_module

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

GROUPS = ("a", "g")
NAMES = ("a", "a:a", "g:b_0", "g:b_1", "g:*", "g", "g:", "nosuch", "g:nosuch", ":", "a:*")
SETTLED = {"RUNNING", "STOPPED", "EXITED", "FATAL"}
# Whoever calls these with valid arguments ends the daemon or removes its programs.
ENDS_THE_RUN = {"supervisor.shutdown", "supervisor.restart"}


class Daemon:
    """The module's superd: a few sleeping programs and an inet port without auth."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        text = base_config(tmp) + f"[inet_http_server]\nport = 127.0.0.1:{self.port}\n\n"
        for section, command in (
            ("program:a", "/bin/sleep 86400"),
            ("program:b", "/bin/sleep 86400"),
        ):
            text += (
                f"[{section}]\ncommand = {command}\nstartsecs = 0\nstopwaitsecs = 1\n"
                "autorestart = true\n"
            )
        text += "numprocs = 2\nprocess_name = %(program_name)s_%(process_num)d\n\n"
        text += "[group:g]\nprograms = b\n\n"
        self.superd = Superd(tmp, text)
        self.superd.wait_running()
        self.log_offset = 0
        self.methods: list[str] = self.rpc("system.listMethods")
        # method -> its parameter types, from system.methodSignature.
        self.signatures: dict[str, list[str]] = {
            m: self.rpc("system.methodSignature", m)[1:] for m in self.methods
        }

    def rpc(self, method: str, *params: Any) -> Any:
        """A well-formed call over TCP; the decoded result (faults raise)."""
        answer = self.post(xmlrpc.client.dumps(params, method).encode())
        assert answer.status == 200, answer
        return xmlrpc.client.loads(answer.body)[0][0]

    def post(self, body: bytes) -> Answer:
        """POST ``body`` to /RPC2."""
        return request(self.port, "POST", "/RPC2", body, {"Content-Type": "text/xml"})

    def snapshot(self) -> dict[str, tuple[str, int]]:
        """namespec -> (statename, pid) of every process."""
        infos = self.superd.call("getAllProcessInfo")
        return {f"{i['group']}:{i['name']}": (i["statename"], i["pid"]) for i in infos}

    def settle(self) -> dict[str, tuple[str, int]]:
        """Bring every process back to RUNNING and wait until superd's view agrees with
        the kernel's (a pid it calls RUNNING is alive): the state before an example."""

        def settled() -> dict[str, tuple[str, int]] | None:
            snapshot = self.snapshot()
            for namespec, (state, pid) in snapshot.items():
                if state not in SETTLED or (state == "RUNNING" and not _alive(pid)):
                    return None
                if state != "RUNNING":
                    self.superd.call("startProcess", namespec, False)
                    return None
            return snapshot

        result: dict[str, tuple[str, int]] = wait_for(settled, "every process RUNNING")
        return result

    def new_log(self) -> str:
        """What superd logged since the last call."""
        text = self.superd.stdout_text()
        new, self.log_offset = text[self.log_offset :], len(text)
        return new


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie is dead: superd has yet to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    require_module("supervisor.xmlrpc")
    started = Daemon(tmp_path_factory.mktemp("fuzz-rpc"))
    try:
        yield started
    finally:
        started.superd.close()


def supervisord_fault_codes() -> set[int]:
    """The fault codes of the real supervisord (the peer, not our table)."""
    faults = require_module("supervisor.xmlrpc").Faults
    return {value for name, value in vars(faults).items() if name.isupper()}


# --- strategies: XML-RPC values as the text inside <value> ---------------------------


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _typed(tag: str) -> Any:
    return lambda text: f"<{tag}>{text}</{tag}>"


BIG_INTEGERS = st.sampled_from(
    [2**31 - 1, 2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 10**100, -(10**4000)]
)
# Mostly printable text (control characters make the whole document unparsable: 400).
CLEAN_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")))
SCALARS = st.one_of(
    st.integers().map(str).map(_typed("int")),
    st.tuples(st.sampled_from(["int", "i4", "i8"]), BIG_INTEGERS).map(
        lambda pair: f"<{pair[0]}>{pair[1]}</{pair[0]}>"
    ),
    st.sampled_from(["0", "1", "2", "true", ""]).map(_typed("boolean")),
    st.floats().map(repr).map(_typed("double")),
    st.text().map(_escape).map(_typed("string")),
    CLEAN_TEXT.map(_escape).map(_typed("string")),
    CLEAN_TEXT.map(_escape),  # a <value> without a type is a string
    # Characters XML 1.0 cannot carry, as character references.
    st.text(min_size=1).map(lambda s: "".join(f"&#{ord(c)};" for c in s)).map(_typed("string")),
    st.sampled_from(NAMES).map(_typed("string")),
    st.sampled_from(["TERM", "HUP", "0", "9", "STOP", "sigusr1", "64", "-1", "99"]).map(
        _typed("string")
    ),
    st.binary().map(lambda b: base64.b64encode(b).decode()).map(_typed("base64")),
    st.text(max_size=8).map(_escape).map(_typed("base64")),  # not base64 at all
    st.datetimes().map(lambda d: d.strftime("%Y%m%dT%H:%M:%S")).map(_typed("dateTime.iso8601")),
    st.text(max_size=30).map(_escape).map(_typed("dateTime.iso8601")),
    st.sampled_from(["<nil/>", "<ex:nil/>", "<unknown>1</unknown>", "<int>1</int><int>2</int>"]),
    # Beyond a pipe's buffer, and (the last) beyond the 2 MiB body limit: 413.
    st.sampled_from([70_000, 1_100_000, 2_200_000]).map(lambda n: f"<string>{'x' * n}</string>"),
    # Nested far beyond any sane depth (repr of such a list raised RecursionError once).
    st.integers(50, 2000).map(
        lambda n: "<array><data><value>" * n + "1" + "</value></data></array>" * n
    ),
)


def _array(items: list[str]) -> str:
    return "<array><data>" + "".join(f"<value>{item}</value>" for item in items) + "</data></array>"


def _struct(members: dict[str, str]) -> str:
    body = "".join(
        f"<member><name>{_escape(name)}</name><value>{value}</value></member>"
        for name, value in members.items()
    )
    return f"<struct>{body}</struct>"


VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(_array),
        st.dictionaries(st.text(max_size=10), children, max_size=4).map(_struct),
    ),
    max_leaves=10,
)

ODD_METHODS = st.sampled_from(
    [
        "",
        "supervisor",
        "supervisor.",
        "system.",
        ".getState",
        "getState",
        "supervisor.getstate",
        "SUPERVISOR.GETSTATE",
        "supervisor.get_state",
        "supervisor._resolve",
        "supervisor.__init__",
        "supervisor.getState.__class__",
        "supervisor.getState ",
        "system.methodHelp.x",
        "twiddler.getAPIVersion",
    ]
)


def _methods(known: list[str]) -> st.SearchStrategy[str]:
    # Mostly published methods: their argument checks are where the bugs were.
    # (one_of would not weigh a repeated branch more: it draws a branch index first.)
    published, odd, random = st.sampled_from(known), ODD_METHODS, st.text(max_size=40)
    return st.integers(0, 9).flatmap(lambda i: published if i < 7 else odd if i < 9 else random)


# Arguments that look like what a parameter of that XML-RPC type wants, so that most
# calls get past the argument count and reach the method's own checks.
PLAUSIBLE = {
    "string": st.one_of(
        st.sampled_from(NAMES).map(_typed("string")),
        st.sampled_from(["TERM", "HUP", "9", "0", "64", "USR1", "sigkill", "-1"]).map(
            _typed("string")
        ),
        CLEAN_TEXT.map(_escape).map(_typed("string")),
    ),
    "int": st.one_of(
        st.integers(-10, 10**6).map(str).map(_typed("int")),
        BIG_INTEGERS.map(str).map(_typed("int")),
        BIG_INTEGERS.map(str).map(_typed("string")),
    ),
    "boolean": st.sampled_from(["0", "1"]).map(_typed("boolean")),
}


def _argument(plausible: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Three times in four a plausible value, else anything."""
    return st.integers(0, 3).flatmap(lambda i: plausible if i else VALUES)


def _arguments(types: list[str]) -> st.SearchStrategy[list[str]]:
    """Values for a signature: each plausible for its type or anything at all; the
    last one (an optional ``wait``, say) sometimes left out."""
    per_parameter = [_argument(PLAUSIBLE.get(t, VALUES)) for t in types]
    full = st.tuples(*per_parameter).map(list)
    return st.one_of(full, full.map(lambda values: values[:-1])) if types else full


def _multicall_entry(daemon: Daemon) -> st.SearchStrategy[str]:
    def entry(method: str) -> st.SearchStrategy[str]:
        types = daemon.signatures.get(method)
        params = _arguments(types) if types is not None else st.lists(VALUES, max_size=3)
        return st.fixed_dictionaries(
            {"methodName": st.just(_typed("string")(_escape(method)))},
            optional={"params": params.map(_array)},
        ).map(_struct)

    return st.one_of(_methods(daemon.methods).flatmap(entry), VALUES)


def method_call(method: str, params: list[str]) -> bytes:
    """A methodCall document with hand-written ``<value>`` contents."""
    encoded = "".join(f"<param><value>{p}</value></param>" for p in params)
    return (
        f"<?xml version='1.0'?><methodCall><methodName>{_escape(method)}</methodName>"
        f"<params>{encoded}</params></methodCall>"
    ).encode()


def _decoded(body: bytes) -> tuple[str, tuple[Any, ...]] | None:
    try:
        return decode_request(body)
    except RequestError:  # the server answers 400
        return None


def ends_the_run(body: bytes) -> bool:
    """Whether the call (or a part of a multicall) would stop the experiment itself."""
    decoded = _decoded(body)
    if decoded is None:
        return False
    # (method, params; None where params is no array, which is refused anyway)
    calls: list[tuple[object, list[object] | None]] = [(decoded[0], list(decoded[1]))]
    if decoded[0] == "system.multicall" and decoded[1] and isinstance(decoded[1][0], list):
        for call in decoded[1][0]:
            if isinstance(call, dict):
                params = call.get("params", [])
                calls.append((call.get("methodName"), params if isinstance(params, list) else None))
    for name, args in calls:
        if name in ENDS_THE_RUN and not args:
            return True
        if name == "supervisor.removeProcessGroup" and any(a in GROUPS for a in args or ()):
            return True
    return False


# --- the properties -----------------------------------------------------------------


def fault_codes(value: object) -> list[int]:
    """Every fault code in a decoded result: fault structs and group results' status."""
    if isinstance(value, list):
        return [code for item in value for code in fault_codes(item)]
    if isinstance(value, dict):
        if "faultCode" in value:
            return [value["faultCode"]]
        if {"name", "group", "status", "description"} <= set(value):
            return [value["status"]]
    return []


def check_answer(daemon: Daemon, body: bytes, before: dict[str, tuple[str, int]]) -> None:
    """The properties of the module docstring for one request already answered."""
    answer = daemon.post(body)
    event(f"HTTP {answer.status}")
    assert answer.status in {200, 400, 413}, (answer.status, answer.body[:500])
    failed = answer.status != 200
    if answer.status == 200:
        try:
            result = xmlrpc.client.loads(answer.body)[0][0]
        except xmlrpc.client.Fault as fault:
            codes, failed = [fault.faultCode], True
        else:
            codes = fault_codes(result)
            decoded = _decoded(body)
            if decoded is not None and decoded[0] == "system.multicall":
                failed = isinstance(result, list) and len(codes) == len(result) > 0
        assert set(codes) <= supervisord_fault_codes(), codes
        for code in set(codes):
            event(f"fault {code}")
        if not codes:
            event("a result without faults")
    log = daemon.new_log()
    assert "Traceback" not in log, log
    assert daemon.superd.process.poll() is None, "superd died"
    if failed:
        assert daemon.snapshot() == before, "a refused call changed a process"


@given(data=st.data())
@fuzz_settings(250)
def test_fuzzed_calls_get_faults_of_supervisord_and_change_nothing(
    daemon: Daemon, data: st.DataObject
) -> None:
    """A method of any name with arguments of any XML-RPC type gets a well-formed
    answer with supervisord's fault codes, never a 5xx, and a refused call changes no
    process."""
    method = data.draw(_methods(daemon.methods), label="method")
    if method == "system.multicall" and data.draw(st.booleans(), label="batch"):
        entries = data.draw(st.lists(_multicall_entry(daemon), max_size=4), label="calls")
        params = [_array(entries)]
    elif method in daemon.signatures and data.draw(st.integers(0, 2), label="fitting"):
        params = data.draw(_arguments(daemon.signatures[method]), label="params")
    else:
        params = data.draw(st.lists(VALUES, max_size=4), label="params")
    body = method_call(method, params)
    assume(not ends_the_run(body))
    before = daemon.settle()
    check_answer(daemon, body, before)


VALID_BODY = method_call("supervisor.stopProcess", ["<string>a</string>", "<boolean>1</boolean>"])


@st.composite
def malformed_bodies(draw: st.DrawFn) -> bytes:
    """A body that is mostly not XML-RPC: random bytes, a valid call cut, spliced or
    retagged, or a known-hostile document."""
    kind = draw(st.sampled_from(["bytes", "cut", "splice", "retag", "template"]))
    if kind == "bytes":
        return draw(st.binary(max_size=2000))
    if kind == "cut":
        return VALID_BODY[: draw(st.integers(0, len(VALID_BODY) - 1))]
    if kind == "splice":
        at = draw(st.integers(0, len(VALID_BODY)))
        end = draw(st.integers(at, len(VALID_BODY)))
        return VALID_BODY[:at] + draw(st.binary(max_size=50)) + VALID_BODY[end:]
    if kind == "retag":
        tags = [b"methodCall", b"methodName", b"params", b"param", b"value", b"string", b"boolean"]
        old = draw(st.sampled_from(tags))
        new = draw(st.sampled_from([*tags, b"fault", b"methodResponse", b"array", b"x", b""]))
        return VALID_BODY.replace(old, new, draw(st.integers(1, 2)))
    filler = _escape(draw(st.text(max_size=20))).encode()
    return draw(
        st.sampled_from(
            [
                b"<methodCall><methodName>supervisor.getState</methodName>",
                b"<methodCall><params><param><value>" + filler + b"</value></param></params>"
                b"</methodCall>",
                b"<methodResponse><params><param><value>1</value></param></params>"
                b"</methodResponse>",
                b"<methodCall><methodName>supervisor.stopProcess</methodName><params><param>"
                b"<value><struct><member><name>" + filler + b"</name></member></struct></value>"
                b"</param></params></methodCall>",
                "<?xml version='1.0' encoding='utf-16'?><methodCall><methodName>"
                "supervisor.stopProcess</methodName></methodCall>".encode("utf-16"),
                b"<?xml version='1.0' encoding='latin-1'?><methodCall><methodName>supervisor."
                b"stopProcess\xe9</methodName></methodCall>",
                b"\xef\xbb\xbf" + VALID_BODY,
                b"<methodCall><methodName>supervisor.stopProcess</methodName><params><param>"
                b"<value><string>\xff\xfe" + filler + b"</string></value></param></params>"
                b"</methodCall>",
                b"<!DOCTYPE x><methodCall/>",
                b"<methodCall><methodName>" + filler + b"<![CDATA[x]]></methodName></methodCall>",
            ]
        )
    )


@given(body=malformed_bodies())
@fuzz_settings(250)
def test_malformed_bodies_get_400_or_a_fault_and_change_nothing(
    daemon: Daemon, body: bytes
) -> None:
    """A body that is not a well-formed method call is refused with 400 (or a fault)
    in parseable form, never 5xx, and changes no process."""
    assume(not ends_the_run(body))
    before = daemon.settle()
    check_answer(daemon, body, before)


def test_the_daemon_survived_the_fuzzing(daemon: Daemon) -> None:
    """After every fuzzed request the daemon still runs every program and answers."""
    assert daemon.rpc("supervisor.getState")["statename"] == "RUNNING"
    assert {state for state, _pid in daemon.settle().values()} == {"RUNNING"}
    assert "Traceback" not in daemon.superd.stdout_text()
