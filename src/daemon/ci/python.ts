/**
 * The `sitecustomize` module `gotunnel run` puts first on its command's PYTHONPATH. Python imports `sitecustomize`
 * at startup after setting up sys.path (Python docs, "site — Site-specific configuration hook"), and every client in
 * the standard library and beyond (urllib, http.client, requests/urllib3, httpx, aiohttp, asyncio) connects through
 * `socket.getaddrinfo` (gethostbyname for a few), so answering our names there is enough. The real getaddrinfo gets
 * our address in the name's place, so families, ports and flags behave exactly as for that address.
 *
 * A sitecustomize that ours shadows (Debian's, a virtualenv's, the project's own) is found further down sys.path and
 * imported afterwards under its own name, so nothing the user had stops working. It imports `socket` at startup,
 * ≈ 9 ms per Python start (3.11, hyperfine), which a program that uses the network pays anyway. `python -I`, `-E`
 * and `-S` skip this hook by design; GOTUNNEL_CURL_RESOLVE and the URLs still work there.
 */
import type { RouteNames } from "./names.ts";

export const PYTHON_DIR = "python";
export const SITECUSTOMIZE_FILE = "sitecustomize.py";

export function sitecustomizeSource(names: RouteNames, address: string): string {
  // JSON arrays of strings and JSON strings are valid Python literals (the same escapes): no quoting, no json import.
  const args = [names.exact, names.suffixes, address].map((value) => JSON.stringify(value)).join(", ");
  return `# Written by \`gotunnel run\` for one run, removed when it ends: its route names resolve to its proxy.
import os as _os
import socket as _socket
import sys as _sys


def _gotunnel_resolve_names(exact, suffixes, address):
    exact = frozenset(exact)
    suffixes = tuple(suffixes)

    def ours(host):
        if isinstance(host, (bytes, bytearray)):
            host = bytes(host).decode("ascii", "replace")
        if not isinstance(host, str):
            return False
        name = host.lower()[:-1] if host.endswith(".") else host.lower()
        return name in exact or any(name.endswith(s) or name == s[1:] for s in suffixes)

    def redirected(resolve):
        def replacement(host, *args, **kwargs):
            return resolve(address if ours(host) else host, *args, **kwargs)

        replacement.__name__ = resolve.__name__
        replacement.__doc__ = resolve.__doc__
        return replacement

    _socket.getaddrinfo = redirected(_socket.getaddrinfo)
    _socket.gethostbyname = redirected(_socket.gethostbyname)
    _socket.gethostbyname_ex = redirected(_socket.gethostbyname_ex)


def _gotunnel_run_shadowed():
    # Our directory holds nothing else, so it leaves sys.path; the next sitecustomize then imports under its own name.
    here = _os.path.dirname(_os.path.abspath(__file__))
    this = _sys.modules[__name__]
    _sys.path[:] = [entry for entry in _sys.path if _os.path.abspath(entry or _os.curdir) != here]
    del _sys.modules[__name__]
    try:
        import sitecustomize  # noqa: F401
    except ModuleNotFoundError as error:
        if error.name != "sitecustomize":
            raise
        _sys.modules[__name__] = this


_gotunnel_resolve_names(${args})
_gotunnel_run_shadowed()
`;
}
