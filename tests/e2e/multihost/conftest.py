"""The three-host lab shared by a module: a control plane on ``cp``, v1 of ``echo`` on ``b``, v2 and a
client on ``c`` (each host its own ``MIZZEN_HOME``); everything is removed afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing.labmesh import LabMesh
from mizzen.testing.multihost import lab_or_skip

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: client}
spec:
  selector: {app: client}
  ports: [{name: http, port: 9080}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


@pytest.fixture(scope="module")
def lab_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabMesh]:
    with lab_or_skip() as lab:
        tmp: Path = tmp_path_factory.mktemp("lab")
        mesh = LabMesh(lab, tmp)
        try:
            mesh.start_controlplane(lab.add_host("cp"))
            lab.add_host("b")
            lab.add_host("c")
            mesh.apply(SERVICES)
            yield mesh
        finally:
            mesh.close()
