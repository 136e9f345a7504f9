"""Workload identity: SPIFFE IDs, the mesh CA, scoped credentials and the checks that bind them.

Beneath ``controlplane`` and ``agent``; pure except :mod:`mizzen.security.ca` (files) and the
``cryptography`` adapter :mod:`mizzen.security.x509`, which loads only when a certificate is touched.
"""
