"""Sending through an HTTP email API that takes a Resend-style JSON payload."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from csm.errors import redact_url
from csm.mail.message import OutgoingEmail, dedupe_hash
from csm.mail.transports import (
    AuthFailure,
    ConnectionFailure,
    PermanentFailure,
    SettingsReader,
    TemporaryFailure,
)
from csm.retry import parse_retry_after

KEYS = {"url", "token_env", "timeout"}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_ERROR_TEXT_LIMIT = 300


def configure(reader: SettingsReader, root: Path) -> HttpTransport:
    url = reader.text("url", required=True) or "https://localhost/"
    parts = urlsplit(url)
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
        reader.problem("url", f"expected an https:// address, got {redact_url(url)!r}")
    token_env, token = reader.secret("token_env", required=True)
    timeout = reader.number("timeout", default=30.0, high=600)
    return HttpTransport(url=url, token=token or "", token_env=token_env or "", timeout=timeout)


def idempotency_key(email: OutgoingEmail, to: str) -> str:
    """The same for every attempt at one recipient's copy of a draft, and only for it."""
    return dedupe_hash(f"{email.dedupe_key}\n{to}")


def payload(message: EmailMessage, email: OutgoingEmail, to: str) -> dict[str, Any]:
    """The JSON body for the copy to ``to``, its only recipient (an API delivers to whoever
    the JSON names); the addresses and subject as the built (checked) message has them."""
    headers = {"Message-ID": str(message["Message-ID"])}
    for name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
        if name in message:
            headers[name] = str(message[name])
    named = [a for h in ("To", "Cc") if h in message for a in message[h].addresses if a.addr_spec == to]
    body: dict[str, Any] = {
        "from": str(message["From"].addresses[0]),
        "to": [str(named[0]) if named else to],
        "subject": str(message["Subject"]),
        "text": email.text,
        "html": email.html,
        "headers": headers,
    }
    if "Reply-To" in message:
        body["reply_to"] = message["Reply-To"].addresses[0].addr_spec
    return body


class HttpTransport:
    """POSTs each message as JSON with a bearer token and an idempotency key."""

    name = "http"
    separate_envelope = False

    def __init__(
        self,
        *,
        url: str,
        token: str,
        token_env: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self.api = f"the email API at {redact_url(url)}"  # for messages: no key in them
        self._token = token
        self.token_env = token_env
        self.timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:
        return f"HttpTransport(url={redact_url(self.url)!r}, token_env={self.token_env!r})"

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, message: EmailMessage, email: OutgoingEmail, to: str) -> str:
        if self._client is None:
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), transport=self._transport)
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Idempotency-Key": idempotency_key(email, to),
        }
        try:
            response = self._client.post(self.url, json=payload(message, email, to), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise ConnectionFailure(
                f"cannot connect to {self.api} ({_reason(error)})",
                hint="Check send.url in csm.toml; nothing was sent and the drafts stay approved.",
            ) from None
        except httpx.WriteTimeout as error:
            raise TemporaryFailure(f"{self.api} did not take the request ({_reason(error)})") from None
        except httpx.TransportError as error:
            # The request went out in full; without an answer, it may have been sent.
            raise TemporaryFailure(
                f"no answer from {self.api} ({_reason(error)}); it may have been delivered",
                maybe_delivered=True,
            ) from None
        return self._outcome(response)

    def _outcome(self, response: httpx.Response) -> str:
        status = response.status_code
        if 200 <= status < 300:
            return _provider_id(response) or f"HTTP {status}"
        text = self._error_text(response)
        if status in (401, 403):
            raise AuthFailure(
                f"{self.api} refused the token in {self.token_env} (HTTP {status}: {text})",
                hint=f"Check that {self.token_env} holds a valid API key that may send email.",
            )
        if status == 429 or status >= 500:
            raise TemporaryFailure(
                f"{self.api} answered HTTP {status}: {text}",
                retry_after=parse_retry_after(response.headers.get("retry-after"), _server_now(response)),
            )
        if 400 <= status < 500:
            raise PermanentFailure(f"{self.api} refused the message (HTTP {status}): {text}")
        raise ConnectionFailure(
            f"{self.api} answered HTTP {status} {response.headers.get('location', '')}".rstrip(),
            hint="Set send.url in csm.toml to the API's final address.",
        )

    def _error_text(self, response: httpx.Response) -> str:
        text = response.text
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            found = next((data[k] for k in ("message", "error", "detail") if k in data), data)
            if isinstance(found, dict) and "message" in found:
                found = found["message"]
            text = found if isinstance(found, str) else json.dumps(found)
        text = " ".join(text.split())
        if self._token:
            text = text.replace(self._token, "***")
        if len(text) > _ERROR_TEXT_LIMIT:
            text = text[: _ERROR_TEXT_LIMIT - 1] + "…"
        return text or response.reason_phrase


def _provider_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    found = data.get("id") if isinstance(data, dict) else None
    return str(found) if found is not None else None


def _server_now(response: httpx.Response) -> dt.datetime:
    """The server's clock (its Date header), which a Retry-After date is set by."""
    try:
        now = email.utils.parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError, IndexError):
        return dt.datetime.now(dt.UTC)
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def _reason(error: Exception) -> str:
    return str(error) or type(error).__name__
