"""Host and Origin rules of the tracking server: what the security middleware compares headers with.

Two browser attacks are stopped with these rules, and both come down to parsing ``host[:port]`` correctly:

* **DNS rebinding.** A page on ``evil.example`` re-points its own name at ``127.0.0.1`` and then calls the
  server from the victim's browser. The socket reaches us, but the ``Host`` header still names the attacker's
  domain, so only Host values on an allow-list are served. :func:`normalise_host_pattern` validates the
  operator's ``--allowed-hosts`` at startup (so a typo fails loudly instead of refusing every request),
  :class:`HostRules` compiles them for a cheap per-request :meth:`HostRules.allows`, and
  :func:`default_allowed_hosts` derives a safe list from the bind address when none is given.
* **Cross-origin writes.** A browser sends ``Origin`` on cross-site requests; :func:`same_origin` tells
  whether it names the host and port the request was sent to, and :func:`normalise_origin` puts the
  operator's ``--cors-allowed-origins`` into the exact form browsers send, so a byte comparison suffices.

IP literals are compared in canonical form (``[0:0::1]`` is ``[::1]``), names case-insensitively, and default
ports (80, 443) are implied, so that equal addresses never compare unequal.

Example:
    >>> rules = HostRules.compile([normalise_host_pattern(p) for p in ["localhost", "*.corp.example:8080"]])
    >>> rules.allows("LocalHost:5000"), rules.allows("ml.corp.example:8080"), rules.allows("evil.example")
    (True, True, False)
    >>> same_origin(b"https://ml.corp.example", b"ml.corp.example:443")
    True
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from prefect_mltrack.exceptions import InvalidParameterError

__all__ = [
    "LOOPBACK_HOSTS",
    "HostRules",
    "canonical_ip",
    "default_allowed_hosts",
    "normalise_host_pattern",
    "normalise_origin",
    "same_origin",
    "split_host_port",
]

LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1", "[::1]")
_HOSTNAME: Final = re.compile(r"^[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?$")
_IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def default_allowed_hosts(bind_host: str) -> list[str]:
    """The Host values to accept when the operator gives none, derived from the bind address.

    Loopback names always; a specific bind address or name as well; for a wildcard bind (``0.0.0.0``,
    ``::``) any IP literal plus this machine's name. IP literals are safe: a DNS-rebinding page always
    reaches the server under the attacker's domain name, never under an address.

    Example:
        >>> default_allowed_hosts("127.0.0.1")
        ['localhost', '127.0.0.1', '[::1]']
        >>> default_allowed_hosts("10.1.2.3")
        ['localhost', '127.0.0.1', '[::1]', '10.1.2.3']
    """
    hosts = list(LOOPBACK_HOSTS)
    bind = bind_host.strip().strip("[]").lower()
    if bind in ("", "0.0.0.0", "::"):
        machine = socket.gethostname().lower()
        return [*hosts, "0.0.0.0/0", "::/0", *([machine] if _HOSTNAME.match(machine) else [])]
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        return hosts if bind == "localhost" else [*hosts, bind]
    if address.is_loopback:
        return hosts
    return [*hosts, f"[{address.compressed}]" if address.version == 6 else address.compressed]


def split_host_port(value: str) -> tuple[str, str | None] | None:
    """``'host:port'`` / ``'[v6]:port'`` -> (host, port); None when malformed (a bare IPv6, a bad port).

    Example:
        >>> split_host_port("[::1]:5000"), split_host_port("example.com"), split_host_port("::1")
        (('[::1]', '5000'), ('example.com', None), None)
    """
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[: end + 1], value[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            return None
        port = rest[1:]
    else:
        host, sep, port = value.partition(":")
        if not sep:
            return host, None
    if not (port.isascii() and port.isdigit()):
        return None
    return host, port


def canonical_ip(host: str) -> str | None:
    """``'[0:0::1]'`` -> ``'[::1]'``; None when ``host`` is not an IP literal.

    Example:
        >>> canonical_ip("[0:0::1]"), canonical_ip("127.0.0.1"), canonical_ip("localhost")
        ('[::1]', '127.0.0.1', None)
    """
    try:
        address = ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return None
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


@dataclass(frozen=True, slots=True)
class HostRules:
    """Allowed hosts compiled for quick matching.

    Example:
        >>> rules = HostRules.compile(["localhost", "10.0.0.0/8"])
        >>> rules.allows("localhost.:5000"), rules.allows("10.1.2.3"), rules.allows("192.168.0.1")
        (True, True, False)
    """

    any_host: bool
    names: frozenset[str]  # any port
    name_ports: frozenset[tuple[str, str]]
    suffixes: tuple[tuple[str, str | None], ...]  # ('.example.com', port or None) from '*.example.com'
    networks: tuple[_IPNetwork, ...]

    @classmethod
    def compile(cls, patterns: Sequence[str]) -> HostRules:
        """Sort patterns already normalised by :func:`normalise_host_pattern` into lookup tables."""
        names: set[str] = set()
        name_ports: set[tuple[str, str]] = set()
        suffixes: list[tuple[str, str | None]] = []
        networks: list[_IPNetwork] = []
        for pattern in patterns:
            if pattern == "*":
                continue
            if "/" in pattern:
                networks.append(ipaddress.ip_network(pattern))
                continue
            host, port = split_host_port(pattern) or (pattern, None)
            if host.startswith("*."):
                suffixes.append((host[1:], port))
            elif port is None:
                names.add(host)
            else:
                name_ports.add((host, port))
        return cls("*" in patterns, frozenset(names), frozenset(name_ports), tuple(suffixes), tuple(networks))

    def allows(self, host_header: str) -> bool:
        """Whether a ``Host`` header value matches one of the rules (``any_host`` is the caller's to check)."""
        parsed = split_host_port(host_header.lower())
        if parsed is None:
            return False
        host, port = parsed
        if host.endswith("."):  # 'localhost.' is the same name, fully qualified
            host = host[:-1]
        if host.startswith("["):
            host = canonical_ip(host) or host
        if host in self.names or (port is not None and (host, port) in self.name_ports):
            return True
        for suffix, wanted_port in self.suffixes:
            if host.endswith(suffix) and wanted_port in (None, port):
                return True
        if self.networks and (ip := canonical_ip(host)) is not None:
            address = ipaddress.ip_address(ip.strip("[]"))
            return any(address in network for network in self.networks)
        return False


def normalise_host_pattern(pattern: str) -> str:
    """Lower-case a pattern, bracket a bare IPv6 address, drop ':*', and refuse what could never match.

    Raises:
        InvalidParameterError: The pattern is malformed; the message says which form to write.

    Example:
        >>> normalise_host_pattern("ML.Example:*"), normalise_host_pattern("::1"), normalise_host_pattern("10.1.2.3/8")
        ('ml.example', '[::1]', '10.0.0.0/8')
    """
    pattern = pattern.strip().lower()
    if pattern == "*":
        return pattern
    if "/" in pattern:
        try:
            return str(ipaddress.ip_network(pattern.strip("[]"), strict=False))
        except ValueError:
            raise _bad_host(pattern, "is not an IP network like '10.0.0.0/8'") from None
    if pattern.count(":") > 1 and not pattern.startswith("["):
        ip = canonical_ip(pattern)
        if ip is None:
            raise _bad_host(pattern, "is not an IPv6 address; write IPv6 hosts in brackets, like '[::1]:5000'")
        return ip
    # 'name' alone already means any port, so 'name:*' (MLflow's spelling) is the same pattern.
    parsed = split_host_port(pattern[:-2] if pattern.endswith(":*") else pattern)
    if parsed is None:
        raise _bad_host(pattern, "has a malformed port; write 'host', 'host:port' or 'host:*'")
    name, port = parsed
    if name.startswith("["):
        canonical = canonical_ip(name)
        if canonical is None:
            raise _bad_host(pattern, "has brackets around something that is not an IPv6 address")
        name = canonical
    elif not _HOSTNAME.match(name[2:] if name.startswith("*.") else name):
        raise _bad_host(pattern, "is not a host name; wildcards must look like '*.example.com'")
    return f"{name}:{port}" if port else name


def _bad_host(pattern: str, why: str) -> InvalidParameterError:
    return InvalidParameterError(f"Allowed host {pattern!r} {why} (--allowed-hosts)")


def normalise_origin(origin: str) -> str:
    """``'HTTPS://UI.example:443/'`` -> ``'https://ui.example'``; refuses anything but scheme://host[:port].

    Raises:
        InvalidParameterError: Not an http(s) origin (a path, credentials, a wildcard host, another scheme).

    Example:
        >>> normalise_origin("HTTPS://UI.example:443/"), normalise_origin("http://ui.example:8080")
        ('https://ui.example', 'http://ui.example:8080')
    """
    origin = origin.strip().lower().rstrip("/")
    if origin == "*":
        return origin
    scheme, sep, netloc = origin.partition("://")
    parsed = split_host_port(netloc) if sep and scheme in ("http", "https") else None
    if parsed is None or not parsed[0] or "/" in netloc or "@" in netloc or "*" in netloc:
        raise InvalidParameterError(
            f"CORS origin {origin!r} is not an origin; write scheme://host[:port] like 'https://ui.example.com' "
            "or '*' for any origin (--cors-allowed-origins)"
        )
    host, port = parsed
    default_port = "443" if scheme == "https" else "80"
    return f"{scheme}://{host}" if port in (None, default_port) else f"{scheme}://{host}:{port}"


def same_origin(origin: bytes, host: bytes) -> bool:
    """True when ``Origin`` names the host and port the request was sent to.

    The scheme is not compared with the connection's: behind a TLS proxy the app sees http while the browser
    says https, and no other site can serve pages from the same host and port under the other scheme.

    Example:
        >>> same_origin(b"http://localhost:5000", b"localhost:5000"), same_origin(b"null", b"localhost:5000")
        (True, False)
    """
    scheme, sep, netloc = origin.lower().partition(b"://")
    if not sep or scheme not in (b"http", b"https"):
        return False  # includes 'null' (sandboxed frames, file: pages)
    ours = split_host_port(host.decode("latin-1").lower())
    theirs = split_host_port(netloc.decode("latin-1"))
    if ours is None or theirs is None:
        return False
    default_port = "443" if scheme == b"https" else "80"
    return ours[0] == theirs[0] and (ours[1] or default_port) == (theirs[1] or default_port)
