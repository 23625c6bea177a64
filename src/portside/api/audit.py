"""What the audit log hears of each exchange (services/events/audit.py keeps it).

`AuditTrail.finished` runs in the outermost middleware (api/middleware.py) after every answer.
A read costs it three set lookups: only changes (POST, PUT, PATCH, DELETE), the login routes
and refusals (401, 403, 429) go further. What it records:

- a change through `/v2/`, `/acr/v1/` or the management API, with its outcome, unless it came
  without credentials and was refused (scanners must not fill the log; an anonymous change
  that succeeds, on the open loopback registry, is recorded);
- a login: a token request (`/oauth2/token`, `/oauth2/exchange`) that presented credentials,
  `GET /v2/` with Basic credentials, and any other request refused although it presented
  credentials (action `login`, outcome `denied`).

The identity is read from what the request presented, after the access step checked it: the
management gate's caller, the token endpoint's note (the identity its new token names), or the
credentials by their name (the registry's name is its admin user, a UUID a service principal,
the null GUID a refresh token, anything else a token; a bearer token's claims). Of a refused
request it is what the credentials claimed. No header value, password, token or query string
is stored: only names, bounded and escaped as the logs are (portside/logs.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Message, Scope

from portside.api.credentials import credentials_of
from portside.api.management.caller import CALLER_STATE
from portside.api.middleware import Exchange
from portside.auth.credentials import Basic, Bearer, Credentials, Malformed
from portside.auth.identity import KINDS, NULL_GUID
from portside.logs import printable
from portside.metadata.audit import AuditEntry
from portside.metadata.records import RegistryRecord
from portside.services.events.audit import AuditLog
from portside.services.management.admin import ADMIN_USER, Caller
from portside.services.management.identities import canonical_principal_id

__all__ = ["AuditTrail", "note_identity", "note_presented", "note_token"]

log = logging.getLogger("portside.audit")

AUDIT_IDENTITY = "audit_identity"
"""Key in the request's state of the (kind, id) a token endpoint established."""
AUDIT_CREDENTIALS = "audit_credentials"
"""Key in the request's state of the credentials a token request's form presented."""

_CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REFUSED = frozenset({401, 403, 429})
_LOGINS = frozenset({"/oauth2/token", "/oauth2/exchange", "/v2/"})
_MANAGEMENT = "/api/v1"
_REGISTRY_ROUTE = "/api/v1/registries/{name}"
_NO_CREDENTIALS = object()
_PUSHES = frozenset({"manifest.push", "blob.push", "upload.start"})

# Data-plane changes by method and route template (api/routes.py, api/acr/routes.py).
_V2 = "/v2/{name}"
_ACR = "/acr/v1/{name}"
_ACTIONS = {
    ("PUT", f"{_V2}/manifests/{{reference}}"): "manifest.push",
    ("DELETE", f"{_V2}/manifests/{{reference}}"): "manifest.delete",
    ("POST", f"{_V2}/blobs/uploads/"): "upload.start",
    ("POST", f"{_V2}/blobs/uploads"): "upload.start",
    ("PATCH", f"{_V2}/blobs/uploads/{{uuid}}"): "upload.chunk",
    ("PUT", f"{_V2}/blobs/uploads/{{uuid}}"): "blob.push",
    ("DELETE", f"{_V2}/blobs/uploads/{{uuid}}"): "upload.cancel",
    ("DELETE", f"{_V2}/blobs/{{digest}}"): "blob.delete",
    ("PATCH", f"{_ACR}/_tags/{{reference}}"): "tag.update",
    ("DELETE", f"{_ACR}/_tags/{{reference}}"): "tag.delete",
    ("PATCH", f"{_ACR}/_manifests/{{digest}}"): "manifest.update",
    ("DELETE", f"{_ACR}/_manifests/{{digest}}"): "manifest.delete",
    ("PATCH", _ACR): "repository.update",
    ("DELETE", _ACR): "repository.delete",
    ("POST", "/acr/v1/_deleted/{name}/_manifests/{digest}"): "manifest.restore",
}
# Management routes name their action by resource and verb: POST /registries/{name}/tokens is
# `tokens.create`; these last path segments of a POST are the verb themselves.
_VERBS = {"POST": "create", "PUT": "set", "PATCH": "update", "DELETE": "delete"}
_POST_VERBS = frozenset({"ping", "redeliver", "rotate", "renew", "restore", "purge", "login"})

# Column widths (metadata/schema/audit.py).
_WIDTH = {"id": 256, "client": 64, "target": 512, "request_id": 128, "registry": 64}


class AuditTrail:
    """Turns exchanges into audit records for the `AuditLog` it is attached to."""

    def __init__(self) -> None:
        """Records nothing until `attach`ed (the log exists once the runtime does)."""
        self._log: AuditLog | None = None
        self._registry_of_host: Callable[[str], str] = lambda host: ""

    def attach(self, log: AuditLog, registry_of_host: Callable[[str], str]) -> None:
        """Record into `log`; `registry_of_host` names the registry a Host addresses."""
        self._log, self._registry_of_host = log, registry_of_host

    def finished(self, scope: Scope, exchange: Exchange, answer: Message) -> None:
        """Record `exchange` if it is a change, a login or a refusal (see the module)."""
        method, status, route = exchange.method, exchange.status, exchange.route
        if self._log is None or not (method in _CHANGES or status in _REFUSED or route in _LOGINS):
            return
        try:
            self._record(self._log, scope, exchange, answer)
        except Exception:
            # The answer is gone already; a record that cannot be made must not turn into a
            # server error (and is no reason to fail the request's other bookkeeping).
            log.exception("could not make the audit record of a %s %s", method, route)

    def _record(self, audit: AuditLog, scope: Scope, exchange: Exchange, answer: Message) -> None:
        method, status, route = exchange.method, exchange.status, exchange.route
        state = scope.get("state") or {}
        registry = state.get("registry")
        if route.startswith(_MANAGEMENT):
            name, uid = _managed_registry(scope, route), None
        elif isinstance(registry, RegistryRecord):
            name, uid = registry.name, registry.uid
        else:
            name, uid = self._registry_of_host(Headers(scope=scope).get("host", "")), None
            if not name:
                return  # no registry: nothing of a tenant's happened
        credentials = state.get(AUDIT_CREDENTIALS) or state.get("credentials", _NO_CREDENTIALS)
        if credentials is _NO_CREDENTIALS:
            credentials = credentials_of(Headers(scope=scope))
        noted = state.get(AUDIT_IDENTITY)
        presented = credentials is not None or noted is not None
        action = _action(method, route, status, presented, credentials)
        if action is None:
            return
        if noted is not None:
            kind, subject = noted
        else:
            kind, subject = _identity(state.get(CALLER_STATE), credentials, name, route)
        audit.record(
            AuditEntry(
                at=datetime.now(UTC),
                registry=_clean(name, "registry"),
                registry_uid=uid,
                identity_kind=kind if kind in KINDS else "unknown",
                identity_id=_clean(subject, "id"),
                client=_clean(_client(scope), "client"),
                action=action,
                target=_clean(_target(scope, route, action, answer), "target"),
                outcome=_outcome(status),
                status=status,
                request_id=_clean(str(state.get("request_id", "")), "request_id"),
            )
        )


def note_presented(request: Request, username: str, refresh_token: str) -> None:
    """For a token request whose credentials came in its form (not its Authorization
    header): what they present, read for the record as header credentials are. Kept in the
    request's state only while the request runs; the record keeps names, never the secret."""
    if username:
        _state(request)[AUDIT_CREDENTIALS] = Basic(username, "")
    elif refresh_token:
        _state(request)[AUDIT_CREDENTIALS] = Basic(NULL_GUID, refresh_token)


def note_token(request: Request, token: str) -> None:
    """For a token endpoint that answered: the identity its new token names (anonymous
    tokens, which every anonymous pull asks for, are no login and are not recorded)."""
    kind, subject = _token_identity(token)
    if kind != "anonymous":
        note_identity(request, kind, subject)


def note_identity(request: Request, kind: str, subject: str) -> None:
    """For a token endpoint: the identity the request is recorded under."""
    _state(request)[AUDIT_IDENTITY] = (kind, subject)


def _state(request: Request) -> dict[str, object]:
    """The request's state as the middleware reads it (`scope["state"]`)."""
    found: dict[str, object] = request.scope.setdefault("state", {})
    return found


def _action(
    method: str, route: str, status: int, presented: bool, credentials: Credentials
) -> str | None:
    """What the exchange is recorded as; None if it is not recorded."""
    refused = status in _REFUSED
    if route in _LOGINS:
        if route == "/v2/":
            return "login" if isinstance(credentials, Basic) else None
        return "login" if presented else None
    if method in _CHANGES:
        if refused and not presented:
            return None
        found = _ACTIONS.get((method, route))
        if found is None and route.startswith(_MANAGEMENT):
            found = _management_action(method, route)
        if found is not None:
            return found
    return "login" if refused and presented else None


def _management_action(method: str, route: str) -> str | None:
    """`tokens.create`, `webhooks.ping`, `registries.update`... from a management route."""
    literals = [p for p in route[len(_MANAGEMENT) :].split("/") if p and not p.startswith("{")]
    if not literals or method not in _VERBS:
        return None
    verb = _VERBS[method]
    if method == "POST" and literals[-1] in _POST_VERBS and len(literals) > 1:
        verb = literals.pop()
    if len(literals) > 1 and literals[0] == "registries":
        literals.pop(0)
    return ".".join([*literals, verb])[:64]


def _managed_registry(scope: Scope, route: str) -> str:
    """The registry a management route names in its path; "" for deployment-wide ones."""
    if not route.startswith(_REGISTRY_ROUTE):
        return ""
    return str(scope.get("path_params", {}).get("name", ""))


def _identity(
    caller: object, credentials: Credentials, registry: str, route: str
) -> tuple[str, str]:
    """(kind, id) of the caller, from what it presented (see the module docstring)."""
    if isinstance(caller, Caller):
        return ("deployment", ADMIN_USER) if caller.is_admin else ("sp", caller.id)
    if credentials is None:
        return ("anonymous", "")
    if isinstance(credentials, Malformed):
        return ("unknown", "")
    if isinstance(credentials, Bearer):
        return _token_identity(credentials.token)
    name = credentials.username
    if route.startswith(_MANAGEMENT):
        if name == ADMIN_USER:
            return ("deployment", ADMIN_USER)
        return ("sp", canonical_principal_id(name) or name)
    if name == NULL_GUID:
        return _token_identity(credentials.password)
    if name == registry:
        return ("admin", name)
    principal = canonical_principal_id(name)
    return ("sp", principal) if principal else ("token", name)


def _token_identity(token: str) -> tuple[str, str]:
    """(kind, subject) a Portside token names, read from its claims without checking its
    signature: the access step or the token endpoint checked it (or refused it, and the
    record says so); ("unknown", "") if it names none."""
    claims = _claims(token)
    kind, subject = claims.get("kind"), claims.get("sub")
    if not isinstance(kind, str) or not isinstance(subject, str):
        return ("unknown", "")
    return (kind, subject)


def _claims(token: str) -> Mapping[str, object]:
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return payload if isinstance(payload, dict) else {}


def _target(scope: Scope, route: str, action: str, answer: Message) -> str:
    """The repository and reference (or the management resource) the request acted on."""
    if action == "login":
        return route
    if route.startswith(_MANAGEMENT):
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        return path[len(root) :] if root and path.startswith(root) else path
    params = scope.get("path_params", {})
    name = str(params.get("name", ""))
    reference = str(params.get("reference") or params.get("digest") or "")
    if not reference:
        target = name
    else:
        target = f"{name}@{reference}" if ":" in reference else f"{name}:{reference}"
    # What a push stored (a manifest pushed by tag, a blob by its upload): the digest the
    # answer names, never a query string (the digest of an upload is in its query).
    digest = _header(answer, b"docker-content-digest") if action in _PUSHES else ""
    if digest and digest != reference:
        target = f"{target}@{digest}"
    return target


def _header(answer: Message, name: bytes) -> str:
    for key, value in answer.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def _outcome(status: int) -> str:
    if 0 < status < 400:
        return "success"
    return "denied" if status in _REFUSED else "failed"


def _clean(value: str, column: str) -> str:
    """`value` escaped as log fields are, and cut to its column's width."""
    return printable(value)[: _WIDTH[column]]
