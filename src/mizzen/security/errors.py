"""The security layer's exceptions::

SecurityError
 ├── CertificateError   a key, CSR or certificate is malformed, or a chain does not verify
 ├── CAError            the mesh CA cannot be loaded or created (files missing, unreadable, mismatched)
 └── IdentityError      a SPIFFE ID or a credential token is malformed
"""

from __future__ import annotations


class SecurityError(Exception):
    """Base of the security layer's errors; ``str()`` is a one-line explanation."""


class CertificateError(SecurityError):
    """A key, CSR or certificate is malformed, or a chain does not verify."""


class CsrIdentityError(CertificateError):
    """A CSR asks for an identity its caller is not entitled to."""


class CAError(SecurityError):
    """The mesh CA cannot be loaded or created."""


class IdentityError(SecurityError):
    """A SPIFFE ID or a credential token is malformed."""
