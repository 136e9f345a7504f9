"""The workload's certificate: a key generated here, a CSR signed by the mesh CA, served to Envoy over SDS.

The private key never leaves the agent's process except towards its own Envoy, over the SDS socket. The
certificate is renewed when ``ROTATE_AT`` of its lifetime has passed (Istio's
``SECRET_GRACE_PERIOD_RATIO`` 0.5) with a new key; Envoy switches new connections to it and keeps the
existing ones, so a rotation drops no request. A failed renewal is retried with backoff until the old
certificate expires.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mizzen.agent.cpclient import ControlPlaneClient
from mizzen.agent.errors import ControlPlaneCallError
from mizzen.security import sds, x509

log = logging.getLogger(__name__)

Publish = Callable[[Mapping[str, Mapping[str, Any]]], None]  # the SDS server's publish, for one node

ROTATE_AT = 0.5
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0


def rotation_delay(issued_at: float, not_after: float, now: float, ratio: float = ROTATE_AT) -> float:
    """Seconds from ``now`` until a certificate valid from ``issued_at`` to ``not_after`` should be renewed."""
    return max(0.0, issued_at + (not_after - issued_at) * ratio - now)


@dataclass(frozen=True)
class Current:
    """The certificate Envoy has now."""

    identity: str
    chain_pem: bytes
    roots_pem: bytes
    serial: int
    issued_at: float
    not_after: float


class CertificateKeeper:
    """Obtains, publishes and renews the workload's certificate."""

    def __init__(
        self,
        client: ControlPlaneClient,
        publish: Publish,
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Renew through ``client``, hand each new certificate to ``publish``; ``ttl_s``: the lifetime asked for."""
        self._client = client
        self._publish = publish
        self.ttl_s = ttl_s
        self._clock = clock
        self.current: Current | None = None
        self.rotations = 0

    async def issue(self) -> Current:
        """A new key and certificate, published to Envoy; :class:`ControlPlaneCallError` if signing failed."""
        key = x509.generate_key()
        answer = await self._client.sign(x509.make_csr(key), self.ttl_s)
        chain = "".join(answer["certChain"]).encode()
        roots = "".join(answer["rootCerts"]).encode()
        leaf = x509.cert_info(chain)
        secrets = {
            sds.DEFAULT_SECRET: sds.tls_certificate_secret(chain, key),
            sds.ROOT_SECRET: sds.validation_context_secret(roots),
        }
        self._publish(secrets)
        now = self._clock()
        self.current = Current(str(answer["identity"]), chain, roots, leaf.serial, now, leaf.not_after.timestamp())
        log.info("certificate for %s (serial %x) valid until %s", answer["identity"], leaf.serial, leaf.not_after)
        return self.current

    async def keep_renewed(self) -> None:
        """Renew for ever (until cancelled); failures are retried with backoff and logged."""
        retry = RETRY_MIN_S
        while True:
            current = self.current
            delay = rotation_delay(current.issued_at, current.not_after, self._clock()) if current else 0.0
            await asyncio.sleep(delay)
            try:
                await self.issue()
            except ControlPlaneCallError as exc:
                log.warning("could not renew the workload certificate (retrying in %.1fs): %s", retry, exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, RETRY_MAX_S)
                continue
            retry = RETRY_MIN_S
            self.rotations += 1
