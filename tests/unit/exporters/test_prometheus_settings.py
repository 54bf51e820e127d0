"""[exporter:prometheus]: the listen address and errors that name file:line."""

from __future__ import annotations

import pytest

from exporters.prometheus import ListenAddress, settings_from_config
from exporters.prometheus.settings import parse_listen
from supervisor_core.config import ConfigError, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9101", ListenAddress(host="127.0.0.1", port=9101)),
        ("localhost:0", ListenAddress(host="localhost", port=0)),
        ("*:9101", ListenAddress(host=None, port=9101)),
        (":9101", ListenAddress(host=None, port=9101)),
        ("[::1]:9101", ListenAddress(host="::1", port=9101)),
        (" 0.0.0.0:80 ", ListenAddress(host="0.0.0.0", port=80)),
    ],
)
def test_listen_spellings(text: str, expected: ListenAddress) -> None:
    """host:port, *:port, :port and [v6]:port are accepted."""
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9101", "host:http", "host:70000", "host:-1", ""])
def test_bad_listen_values(text: str) -> None:
    """A value without a valid port is refused."""
    with pytest.raises(ValueError):
        parse_listen(text)


def test_address_renders_back() -> None:
    """An address prints as an operator would write it."""
    assert str(ListenAddress(host=None, port=1)) == "*:1"
    assert str(ListenAddress(host="::1", port=2)) == "[::1]:2"
    assert str(ListenAddress(host="h", port=3)) == "h:3"


def test_section_absent_means_no_own_listener() -> None:
    """Without the section there is no extra listener."""
    assert settings_from_config(parse("[supervisord]\n", "/c/s.conf", environ={})).listen is None


def test_section_read_from_a_config() -> None:
    """listen= of [exporter:prometheus] is read from the loaded config."""
    text = "[supervisord]\n[exporter:prometheus]\nlisten=127.0.0.1:9101\n"
    settings = settings_from_config(parse(text, "/c/s.conf", environ={}))
    assert settings.listen == ListenAddress(host="127.0.0.1", port=9101)


def test_every_problem_names_its_line() -> None:
    """A bad value and an unknown key are both reported, each with file:line, in file order."""
    text = "[supervisord]\n[exporter:prometheus]\nlisten=nowhere\nlisen=1\n"
    with pytest.raises(ConfigError) as caught:
        settings_from_config(parse(text, "/c/s.conf", environ={}))
    assert [str(p) for p in caught.value.problems] == [
        "/c/s.conf:3: [exporter:prometheus] listen: expected host:port: 'nowhere'",
        "/c/s.conf:4: [exporter:prometheus] lisen: unknown option: '1'",
    ]
