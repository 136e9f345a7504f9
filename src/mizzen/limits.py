"""Every bound on input, in one place: what each number is and where it comes from.

Bad input gets a clear error naming the object and changes nothing; these limits are what turns
"too big" into such an error instead of a slow control plane or an out-of-memory crash. Kubernetes'
numbers are used where Kubernetes has one, so a file kubectl accepts, Mizzen accepts too.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# One stored object, as JSON: 1.5 MiB. Kubernetes' limit in practice: etcd refuses larger requests
# (`--max-request-bytes`, default 1.5 MiB), and the API server's object size errors follow it.
MAX_OBJECT_BYTES = 3 * MIB // 2

# All annotations of one object, the sum of every key's and value's length in bytes: 256 KiB, as
# Kubernetes' apimachinery (ValidateAnnotationsSize, TotalAnnotationSizeLimitB = 256 * 1 KiB).
MAX_ANNOTATIONS_BYTES = 256 * KIB

# Documents in one apply: Mizzen's own number. An apply is one all-or-nothing transaction validated as
# a whole, held in memory twice (the request and the resources); 10 000 is five times the largest
# apply the test suite makes (2 000 documents) and takes a few seconds on a small machine.
MAX_APPLY_DOCUMENTS = 10_000

# One HTTP request body: room for MAX_APPLY_DOCUMENTS documents of ~6 KiB (Bookinfo's objects are
# under 1 KiB). aiohttp answers 413 beyond it before reading the rest.
MAX_REQUEST_BYTES = 64 * MIB

# Nesting depth of a JSON body or a YAML document: Mizzen's own. The deepest Istio schema nests about
# 12 levels; parsers and validators recurse once per level, and Python's default recursion limit is
# 1000, so anything deeper than 100 is rejected up front (Go's encoding/json stops at 10 000).
MAX_NESTING_DEPTH = 100

# YAML anchors and aliases: a document may expand (every alias replaced by a copy of its anchor) to
# at most this many bytes of JSON. Nothing larger could be stored (MAX_OBJECT_BYTES), and the check
# runs on the composed node graph before anything is built, so the 550-byte "billion laughs" file
# (10^9 strings) fails in microseconds. A `kind: List` document may expand to as much as its own text
# is long (several objects), times YAML_EXPANSION_RATIO.
MAX_YAML_EXPANDED_BYTES = MAX_OBJECT_BYTES
YAML_EXPANSION_RATIO = 2

# The agent's merged Prometheus endpoint (`mizzen run --stats-port`): Mizzen's own numbers. Envoy's
# /stats/prometheus grows with clusters x stats (~100 lines per cluster, ~10 MB at 1 000 clusters). The
# app's: 10 MiB, Istio's agent's cap (status server, defaultMaxAppMetricsBodyBytes). A part past its cap is
# left out of the answer and counted as a failed scrape, as a part that timed out is.
MAX_ENVOY_STATS_BYTES = 64 * MIB
MAX_APP_METRICS_BYTES = 10 * MIB
