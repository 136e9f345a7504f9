"""Control characters from input never reach the terminal raw: the CLI escapes them on stderr."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from mizzen.cli.main import cli
from mizzen.cli.terminal import escape_controls


def test_controls_and_bidi_overrides_are_escaped_newlines_kept() -> None:
    """ESC, CR, NUL, DEL, C1 controls and bidi overrides are shown escaped; text and newlines stay."""
    assert escape_controls("plain: ok\nnext line") == "plain: ok\nnext line"
    assert escape_controls("a\x1b[31mb\rc\x00d\x7fe\x9bf") == "a\\x1b[31mb\\x0dc\\x00d\\x7fe\\x9bf"
    assert escape_controls("evil\u202etxt.exe héllo") == "evil\\u202etxt.exe héllo"


def test_cli_errors_quote_input_escaped(tmp_path: Path) -> None:
    """A name carrying an ANSI escape and a carriage return is printed escaped in `mizzen validate`'s errors."""
    bad = tmp_path / "bad.yaml"
    bad.write_text('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "a\\e[2Jb\\rc"}\n')
    # color=True: click would otherwise strip ANSI sequences itself (as it does when stderr is not a tty).
    result = CliRunner().invoke(cli, ["validate", "-f", str(bad)], color=True)
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "a\\x1b[2Jb\\x0dc" in result.stderr
