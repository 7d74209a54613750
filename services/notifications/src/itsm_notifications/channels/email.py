"""E-mail over the platform's SMTP relay (aiosmtplib): one message per delivery, its Message-ID the delivery's id,
so that a message sent again after a crash is one message to any receiver that deduplicates."""

from __future__ import annotations

import ipaddress
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from itsm_notifications.channels import Channel, Outcome, Outgoing
from itsm_notifications.settings import NotificationsSettings


def on_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def message(settings: NotificationsSettings, out: Outgoing) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = out.recipient
    mail["Subject"] = " ".join(out.subject.split())  # one line: a newline would end the header
    mail["Date"] = format_datetime(out.created_at)
    mail["Message-ID"] = f"<{out.id}@itsm>"  # the same on every attempt: receivers deduplicate on it
    mail.set_content(out.body)
    return mail


def refused(code: int, text: str) -> Outcome:
    """An SMTP reply: 4xx is for now (try again), 5xx for good."""
    return Outcome(sent=False, status=code, error=f"SMTP {code} {text[:200]}".strip(), permanent=code >= 500)


def channel(settings: NotificationsSettings) -> Channel:
    encrypted = settings.smtp_starttls or settings.smtp_implicit_tls

    async def send(out: Outgoing) -> Outcome:
        host = settings.smtp_host
        if host is None:  # the dispatcher does not claim e-mail then; this is the last guard
            return Outcome(sent=False, error="e-mail is not configured")
        credentials: dict = {}
        if settings.smtp_username:
            if not encrypted and not on_loopback(host):
                return Outcome(sent=False, error="refusing to send SMTP credentials unencrypted: set "
                                                 "ITSM_NOTIFICATIONS_SMTP_STARTTLS or ..._SMTP_IMPLICIT_TLS")
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            credentials = {"username": settings.smtp_username, "password": password}
        try:
            await aiosmtplib.send(message(settings, out), hostname=host, port=settings.smtp_port,
                                  use_tls=settings.smtp_implicit_tls, start_tls=settings.smtp_starttls,
                                  timeout=settings.smtp_timeout_seconds, **credentials)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            return refused(first.code, first.message) if first else Outcome(sent=False, error=str(exc)[:200])
        except aiosmtplib.SMTPResponseException as exc:
            return refused(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Outcome(sent=False, error=f"SMTP {type(exc).__name__}: {str(exc)[:200]}")
        return Outcome(sent=True, status=250)

    return Channel(send)
