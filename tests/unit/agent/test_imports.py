"""What the agent process loads: only its own modules, so each workload pays no memory for the rest."""

from __future__ import annotations

import json
import subprocess
import sys

HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_agent_imports_no_cli_config_translator_or_extension_protos() -> None:
    """Everything `mizzen run` needs is importable without the CLI, config models, YAML or Envoy's extensions."""
    out = _fresh(
        "import sys, json\n"
        "import mizzen.agent.__main__, mizzen.agent.services, mizzen.agent.runner\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    loaded = json.loads(out)
    for heavy in ("mizzen.cli.main", "mizzen.config", "mizzen.translate", "mizzen.simulate", "yaml", "pydantic"):
        assert heavy not in loaded, heavy
    assert not [m for m in loaded if m.startswith("envoy.extensions.filters")]


def test_console_script_sends_run_to_the_agent_and_the_rest_to_the_full_cli() -> None:
    """`mizzen run --help` answers without loading the full CLI; `mizzen --help` still lists every command."""
    code = (
        "import sys\n"
        "sys.argv = ['mizzen', {args}]\n"
        "from mizzen.cli.entry import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('FULL' if 'mizzen.cli.main' in sys.modules else 'AGENT')\n"
    )
    run_help = _fresh(code.format(args="'run', '--help'"))
    assert "Usage: mizzen run" in run_help and run_help.rstrip().endswith("AGENT")
    full_help = _fresh(code.format(args="'--help'"))
    assert "proxy-status" in full_help and full_help.rstrip().endswith("FULL")


def test_nested_any_encodes_in_a_fresh_process_without_preloading() -> None:
    """A Listener with a nested HttpConnectionManager encodes although nothing imported the extensions first."""
    listener = {
        "name": "l",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "hcm",
                        "typed_config": {"@type": HCM, "stat_prefix": "s", "rds": {"route_config_name": "r"}},
                    }
                ]
            }
        ],
    }
    out = _fresh(
        "import json\n"
        "from mizzen.xds.encode import encode\n"
        "from mizzen.xds.snapshot import decode\n"
        f"data = encode('type.googleapis.com/envoy.config.listener.v3.Listener', {{'l': {listener!r}}})['l']\n"
        "print(decode(data).filter_chains[0].filters[0].typed_config.type_url)\n"
    )
    assert out.strip() == HCM


def test_an_httpx_request_searches_sys_path_for_no_module() -> None:
    """httpcore imports sniffio on every request; without it installed each failed import searched sys.path
    (~7% of an idle agent's CPU). After one request, a second one triggers no module search at all."""
    out = _fresh(
        "import asyncio, importlib.abc, sys, httpx\n"
        "searched = []\n"
        "class Spy(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        searched.append(name)\n"
        "        return None\n"
        "async def main():\n"
        "    async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport()) as client:\n"
        "        try:\n"
        "            await client.get('http://127.0.0.1:9/')\n"
        "        except httpx.HTTPError:\n"
        "            pass\n"
        "        sys.meta_path.insert(0, Spy())\n"
        "        try:\n"
        "            await client.get('http://127.0.0.1:9/')\n"
        "        except httpx.HTTPError:\n"
        "            pass\n"
        "asyncio.run(main())\n"
        "print(','.join(searched))\n"
    )
    assert out.strip() == "", f"modules searched for on a request: {out.strip()}"
