"""The CLI's HTTP client for the control-plane API (the only way the CLI reaches the control plane).

Where to connect, in order: ``--server``, ``$MIZZEN_ADDRESS``, the address a local control plane wrote
to ``$MIZZEN_HOME/controlplane.address``, then ``http://127.0.0.1:15014``. The token: ``$MIZZEN_TOKEN``,
then ``$MIZZEN_HOME/token``. An ``https://`` control plane is verified against the mesh root:
``$MIZZEN_ROOT_CERT``, else ``$MIZZEN_HOME/root-cert.pem`` (written by the control plane, printed by ``up``).
Several replicas of one control plane: a comma-separated list (``--server http://a:15014,http://b:15014``);
the CLI and the dashboard use the first whose ``/healthz`` answers.

Errors (each a one-line message fit for ``error: ...``)::

    ClientError
     ├── Unreachable    no control plane answers at the address
     ├── Unauthorized   no token, or the control plane rejected it
     └── ApiError       the API answered with a Kubernetes Status (404, 409, 422 with violations, ...)
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

from mizzen.config.kinds import KindInfo, by_kind
from mizzen.config.loader import BODY_FIELDS
from mizzen.config.report import Level, Violation
from mizzen.config.resource import Resource

DEFAULT_ADDRESS = "http://127.0.0.1:15014"
TIMEOUT = httpx.Timeout(120.0, connect=5.0)


class ClientError(Exception):
    """Talking to the control plane failed; ``str()`` is a one-line explanation."""


class Unreachable(ClientError):
    """Nothing answers at the control plane's address."""


class Unauthorized(ClientError):
    """The token is missing or wrong."""


class ApiError(ClientError):
    """The API answered with an error ``Status``."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.body = dict(body)
        self.reason = str(body.get("reason", "")) or str(status)
        super().__init__(str(body.get("message", f"HTTP {status}")))

    @property
    def violations(self) -> list[Violation]:
        """The validation report carried by a 422 ``Status``."""
        raw = self.body.get("details", {}).get("violations", []) if isinstance(self.body.get("details"), dict) else []
        return [violation_from_json(v) for v in raw if isinstance(v, dict)]


def violation_from_json(v: Mapping[str, Any]) -> Violation:
    """Rebuild a :class:`Violation` from the API's JSON form."""
    line = v.get("line")
    level: Level = "warning" if v.get("level") == "warning" else "error"
    return Violation(
        code=str(v.get("code", "")),
        message=str(v.get("message", "")),
        path=str(v.get("path", "")),
        level=level,
        file=str(v.get("file", "")),
        line=int(line) if line is not None else None,
        resource=str(v.get("resource", "")),
    )


def _home() -> Path:
    return Path(os.environ.get("MIZZEN_HOME") or "~/.mizzen").expanduser()


def root_cert_file() -> Path:
    """Where the mesh root is read from: ``$MIZZEN_ROOT_CERT`` or ``$MIZZEN_HOME/root-cert.pem``."""
    explicit = os.environ.get("MIZZEN_ROOT_CERT")
    return Path(explicit).expanduser() if explicit else _home() / "root-cert.pem"


def tls_verification(address: str) -> ssl.SSLContext | bool:
    """For an ``https://`` address, a context trusting only the mesh root; plain HTTP needs none."""
    if not address.startswith("https://"):
        return True
    root = root_cert_file()
    try:
        return ssl.create_default_context(cafile=str(root))
    except (OSError, ssl.SSLError) as exc:
        raise ClientError(
            f"the control plane at {address} uses TLS, but its mesh root {root} cannot be read ({exc}); "
            "copy root-cert.pem from the control plane's MIZZEN_HOME and set MIZZEN_ROOT_CERT"
        ) from exc


@dataclass(frozen=True)
class ClientSettings:
    """Where and how to reach the control plane (the root command's ``ctx.obj``)."""

    server: str | None = None
    token: str | None = None

    def address(self) -> str:
        """The control plane's URL: ``--server``, else ``$MIZZEN_ADDRESS``, else the home's recorded address,
        else the default; of a comma-separated list, the first that answers."""
        return first_answering(self.addresses())

    def addresses(self) -> list[str]:
        """Every configured API address, in order (one unless a comma-separated list was given)."""
        value = self.server or os.environ.get("MIZZEN_ADDRESS")
        if not value:
            try:
                value = (_home() / "controlplane.address").read_text(encoding="utf-8").strip()
            except OSError:
                value = ""
        urls = [u.strip().rstrip("/") for u in (value or "").split(",") if u.strip()]
        return urls or [DEFAULT_ADDRESS]

    def verify(self) -> ssl.SSLContext | bool:
        """How to verify the control plane's TLS certificate (the mesh root for ``https``)."""
        return tls_verification(self.address())

    def resolve_token(self) -> str | None:
        """The API token: the one given, else ``$MIZZEN_TOKEN``, else the home's ``token`` file; else ``None``."""
        if self.token:
            return self.token
        env = os.environ.get("MIZZEN_TOKEN")
        if env:
            return env.strip()
        try:
            return (_home() / "token").read_text(encoding="utf-8").strip() or None
        except OSError:
            return None


_answering: dict[tuple[str, ...], str] = {}  # one probe round per CLI process


def first_answering(addresses: Sequence[str]) -> str:
    """The first address whose ``/healthz`` answers; the first one when none does (its error then names it)."""
    if len(addresses) == 1:
        return addresses[0]
    key = tuple(addresses)
    if key not in _answering:
        _answering[key] = next((a for a in addresses if _answers(a)), addresses[0])
    return _answering[key]


def _answers(address: str) -> bool:
    try:
        verify = tls_verification(address)
        return httpx.get(f"{address}/healthz", timeout=2.0, trust_env=False, verify=verify).status_code == 200
    except (httpx.HTTPError, ClientError):
        return False


def document_of(resource: Resource) -> dict[str, Any]:
    """The Kubernetes JSON to send for a loaded resource (body fields of e.g. Secret at the top level)."""
    doc = resource.to_json(server_fields=False)
    body_fields = BODY_FIELDS.get(resource.kind, ())
    if body_fields:
        spec = doc.pop("spec")
        doc.update({k: spec.pop(k) for k in body_fields if k in spec})
        if spec:
            doc["spec"] = spec
    return doc


class ApiClient:
    """A thin, synchronous client; every failure becomes a :class:`ClientError`."""

    def __init__(self, address: str, token: str | None) -> None:
        self.address = address
        self.token = token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=address, headers=headers, timeout=TIMEOUT, trust_env=False, verify=tls_verification(address)
        )

    @classmethod
    def from_context(cls, ctx: click.Context) -> ApiClient:
        """The client configured by the root command's options and the environment."""
        settings = ctx.find_object(ClientSettings) or ClientSettings()
        return cls(settings.address(), settings.resolve_token())

    def request(
        self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """Send one request; raise :class:`ClientError` unless the answer is 2xx."""
        try:
            response = self._http.request(method, path, json=json, params=params)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
                raise ClientError(
                    f"the control plane at {self.address} presented a certificate the mesh root "
                    f"{root_cert_file()} does not trust: {exc}"
                ) from exc
            raise Unreachable(
                f"cannot reach the Mizzen control plane at {self.address}: is it running? (mizzen up)"
            ) from exc
        except httpx.TimeoutException as exc:
            raise Unreachable(f"the Mizzen control plane at {self.address} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise ClientError(f"talking to the Mizzen control plane at {self.address} failed: {exc}") from exc
        except httpx.InvalidURL as exc:  # e.g. a control character in a name given on the command line
            raise ClientError(f"cannot send this request: {exc}") from exc
        if response.status_code == 401:
            if not self.token:
                raise Unauthorized(
                    "no API token: set MIZZEN_TOKEN or MIZZEN_HOME (the token is in "
                    "$MIZZEN_HOME/token once the control plane has started)"
                )
            reason = str(_status_body(response).get("message", "")).removeprefix("Unauthorized: ")
            raise Unauthorized(
                f"the control plane at {self.address} rejected the API token (401 Unauthorized: {reason}); "
                "check MIZZEN_TOKEN or $MIZZEN_HOME/token"
            )
        if response.status_code >= 400:
            raise ApiError(response.status_code, _status_body(response))
        return response

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``GET`` and decode the JSON answer (errors raise as :meth:`request` does)."""
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any, params: Mapping[str, str] | None = None) -> Any:
        """``POST`` a JSON body and decode the JSON answer."""
        return self.request("POST", path, json=body, params=params).json()

    def put_json(self, path: str, body: Any) -> Any:
        """``PUT`` a JSON body and decode the JSON answer."""
        return self.request("PUT", path, json=body).json()

    def delete_json(self, path: str) -> Any:
        """``DELETE`` and decode the JSON answer (the deleted object, for the kinds' paths)."""
        return self.request("DELETE", path).json()

    def post_text(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """``POST`` without a body and return the answer as text."""
        return self.request("POST", path, params=params).text

    def list_objects(self, info: KindInfo, namespace: str | None = None, *, selector: str = "") -> list[dict[str, Any]]:
        """Objects of one kind in ``namespace`` (all namespaces when ``None``), optionally label-selected."""
        if namespace is None:
            base = f"/apis/{info.group}/{info.versions[0]}" if info.group else f"/api/{info.versions[0]}"
            path = f"{base}/{info.plural}"
        else:
            path = info.api_path(namespace)
        params = {"labelSelector": selector} if selector else None
        items: list[dict[str, Any]] = self.get_json(path, params=params)["items"]
        return items

    def list_all(self, kind: str) -> list[dict[str, Any]]:
        """Every object of a canonical kind (``VirtualService``) across namespaces."""
        info = by_kind(kind)
        if info is None:
            raise ClientError(f'the server doesn\'t have a resource type "{kind}"')
        return self.list_objects(info)

    def get(self, info: KindInfo, namespace: str, name: str) -> dict[str, Any]:
        """One stored object as the API returns it (a missing one raises :class:`ApiError` 404)."""
        result: dict[str, Any] = self.get_json(info.api_path(namespace, name))
        return result

    def delete(self, info: KindInfo, namespace: str, name: str) -> dict[str, Any]:
        """Delete one object; the answer is the object as it was."""
        result: dict[str, Any] = self.delete_json(info.api_path(namespace, name))
        return result

    def apply(self, resources: Sequence[Resource], *, dry_run: bool = False) -> dict[str, Any]:
        """Batch-apply loaded resources (all or nothing), sending their origins for file:line errors."""
        body = {
            "documents": [document_of(r) for r in resources],
            "origins": [{"file": r.origin.file, "lines": dict(r.origin.lines)} for r in resources],
            "dryRun": dry_run,
        }
        result: dict[str, Any] = self.post_json("/api/mizzen/v1/apply", body)
        return result

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()


def _status_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"message": response.text.strip() or response.reason_phrase, "code": response.status_code}
