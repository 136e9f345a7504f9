"""The agent's credential: the one it was given, or one it mints for itself with the host's admin token.

Given a workload (or gateway) credential, the agent checks that it is for exactly the workload it was
asked to run, so a mismatch fails at start with a clear message rather than as refused streams. Given
the admin token (a host where the agent can read ``$MIZZEN_HOME/token``, so ``mizzen run`` stays one
command), it mints an ``auto`` credential for this workload, forgets the admin token, and revokes the
minted credential when it stops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mizzen.agent.cpclient import ControlPlaneClient
from mizzen.agent.errors import CredentialError
from mizzen.agent.spec import WorkloadSpec

CREDENTIAL_TYPE = {"sidecar": "workload", "router": "gateway"}


@dataclass(frozen=True)
class AgentCredential:
    """The credential the agent acts with."""

    token: str
    id: str
    identity: str  # the SPIFFE ID
    auto: bool  # minted by this agent: revoke it at exit


def mismatch(spec: WorkloadSpec, me: dict[str, Any]) -> str | None:
    """Why credential ``me`` (the whoami answer) cannot run ``spec``, or None."""
    want = (CREDENTIAL_TYPE[spec.proxy_type], spec.namespace, spec.name, spec.service_account)
    have = (me.get("type"), me.get("namespace"), me.get("name"), me.get("serviceAccount"))
    if want == have:
        return None
    return (
        f"the credential given is a {have[0]} credential for {have[1]}/{have[2]} (service account {have[3]}), "
        f"but this agent runs {want[0]} {want[1]}/{want[2]} (service account {want[3]}); create one with "
        f"`mizzen token create {want[0]} {want[2]} -n {want[1]} --service-account {want[3]}`"
    )


async def obtain(client: ControlPlaneClient, token: str, spec: WorkloadSpec) -> AgentCredential:
    """The credential to run ``spec`` with (``client`` holds ``token``); :class:`CredentialError` if none fits."""
    me = await client.whoami()
    if me.get("type") == "admin":
        minted = await client.mint(CREDENTIAL_TYPE[spec.proxy_type], spec.name, spec.namespace, spec.service_account)
        cred = minted["credential"]
        return AgentCredential(
            token=str(minted["token"]), id=str(cred["id"]), identity=str(cred["identity"]), auto=True
        )
    problem = mismatch(spec, me)
    if problem is not None:
        raise CredentialError(problem)
    return AgentCredential(token=token, id=str(me["id"]), identity=str(me["identity"]), auto=False)
