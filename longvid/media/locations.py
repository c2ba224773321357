"""Which locations a manifest may make the build read: manifests come from the internet.

A local path or `file://` URL is read only inside `--media-root` or a folder given with
`--allow-local DIR`; the check is lexical (after `..` is resolved), so a hostile `media_path`,
`page_dir` or URL cannot climb out, while symlinks the user placed inside an allowed folder still
work. An `http(s)://` host is refused when it resolves to a loopback, private, link-local,
multicast, reserved or unspecified address, unless `--allow-private-hosts`: the host is
resolved once per connection, the address is checked, and the connection goes to that checked
address (so DNS that changes its answer cannot slip past), and every redirect is a new
connection checked the same way. Through a proxy the proxy connects; the target's own name is
still resolved here and checked.

A refusal is a MediaError with cause `refused_location` whose detail names the flag to use.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from longvid.media.errors import MediaError

__all__ = ["LocationPolicy", "refuse"]


def refuse(detail: str) -> MediaError:
    return MediaError("refused_location", detail)


def _absolute(path: str | Path) -> Path:
    text = os.fspath(path)
    if "\0" in text:
        raise refuse(f"a NUL byte in the path {text!r}")
    return Path(os.path.normpath(os.path.abspath(text)))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _blocked(address: str) -> str | None:
    """Why connecting to `address` is refused by default, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None


@dataclass(frozen=True)
class LocationPolicy:
    """The folders a build may read local media from, and whether private hosts may be fetched."""

    media_root: Path | None = None
    allow_local: tuple[Path, ...] = ()
    allow_private_hosts: bool = False
    _roots: tuple[Path, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        roots = [self.media_root] if self.media_root is not None else []
        object.__setattr__(self, "_roots", tuple(_absolute(r) for r in [*roots, *self.allow_local]))

    def local_path(self, path: str | Path) -> Path:
        """`path` made absolute, if it lies inside an allowed folder; else refused."""
        resolved = _absolute(path)
        if not any(_inside(resolved, root) for root in self._roots):
            where = ", ".join(str(r) for r in self._roots) or "no folder is allowed"
            raise refuse(f"local file {resolved} is outside --media-root and every --allow-local DIR ({where}); "
                         f"give --allow-local DIR to read it")
        return resolved

    def under(self, root: Path, relative: str) -> Path:
        """`root/relative` for a manifest's relative path, refused if it climbs out of `root`."""
        base = _absolute(root)
        resolved = _absolute(base / relative.lstrip("/"))
        if not _inside(resolved, base) or resolved == base:
            raise refuse(f"media path {relative!r} leaves {base}")
        return resolved

    def check_address(self, host: str, address: str) -> None:
        if self.allow_private_hosts:
            return
        why = _blocked(address)
        if why is not None:
            raise refuse(f"host {host} is a {why} address ({address}); give --allow-private-hosts to fetch from it")

    def resolve(self, host: str, port: int) -> list[tuple]:
        """getaddrinfo for `host`, every address checked."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise MediaError("connection_failed", f"cannot resolve host {host!r}: {e}") from None
        for info in infos:
            self.check_address(host, info[4][0])
        return infos

    def opener(self) -> urllib.request.OpenerDirector:
        """A urllib opener whose every connection (redirects included) goes through the checks."""
        return urllib.request.build_opener(_GuardedHTTP(self), _GuardedHTTPS(self))


def _guarded_connect(policy: LocationPolicy, target: str | None):
    """A socket.create_connection stand-in: resolve, check, connect to the checked address.
    `target` is None when the connection goes to a proxy (the proxy is the user's own)."""

    def connect(address, timeout=socket.getdefaulttimeout(), source_address=None, **_):
        host, port = address
        if target is None:
            return socket.create_connection(address, timeout, source_address)
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in policy.resolve(host, port):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as e:
                sock.close()
                last = e
        raise last or OSError(f"cannot connect to {host}:{port}")

    return connect


def _target(req: urllib.request.Request, policy: LocationPolicy) -> str | None:
    """The host the request is for, checked; None when a proxy is in between (then the target
    name is still resolved here and checked)."""
    parts = urllib.parse.urlsplit(req.full_url)
    host = parts.hostname or ""
    proxied = req.host != parts.netloc or getattr(req, "_tunnel_host", None)
    if proxied:
        policy.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        return None
    return host


class _GuardedHTTP(urllib.request.HTTPHandler):
    def __init__(self, policy: LocationPolicy):
        super().__init__()
        self.policy = policy

    def http_open(self, req):
        target = _target(req, self.policy)

        def connection(host, **kwargs):
            conn = http.client.HTTPConnection(host, **kwargs)
            conn._create_connection = _guarded_connect(self.policy, target)  # type: ignore[attr-defined]
            return conn

        return self.do_open(connection, req)


class _GuardedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, policy: LocationPolicy):
        super().__init__()
        self.policy = policy

    def https_open(self, req):
        target = _target(req, self.policy)

        def connection(host, **kwargs):
            conn = http.client.HTTPSConnection(host, **kwargs)
            conn._create_connection = _guarded_connect(self.policy, target)  # type: ignore[attr-defined]
            return conn

        return self.do_open(connection, req, context=self._context)
