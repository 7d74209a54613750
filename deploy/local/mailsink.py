"""A local SMTP server that keeps every message it accepts: `make run` points the notifications service at it
and writes each message as an .eml file under .devstack/dev/mail/ for a person to open; the tests read them
from memory.

It confirms a message (250 to DATA) only after keeping it and, with `hold_seconds`, only that long after the
data arrived, like a slow relay. A sender that goes away before the confirmation has sent nothing, as with any
SMTP server: the message is not kept.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time
from collections import deque
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from aiosmtpd.controller import Controller


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class MailSink:
    def __init__(self, host: str = "127.0.0.1", port: int | None = None, folder: Path | None = None):
        self.host, self.port, self.folder = host, port or free_port(host), folder
        self.hold_seconds = 0.0
        self.messages: list[EmailMessage] = []
        self.receiving = threading.Event()  # set when DATA arrived and is being held
        self.arriving: deque[str] = deque(maxlen=10_000)  # recipients of the DATA that arrived, kept or not
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname=host, port=self.port)

    def start(self) -> MailSink:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self.arriving.extend(envelope.rcpt_tos)
        self.receiving.set()
        if self.hold_seconds:
            await asyncio.sleep(self.hold_seconds)  # cancelled if the sender leaves: nothing kept
        message = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(message)
            count = len(self.messages)
        if self.folder is not None:
            (self.folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{count:05d}.eml").write_bytes(bytes(message))
        return "250 OK: kept"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages whose envelope named `address`."""
        with self._lock:
            return [m for m in self.messages if address in m["X-Envelope-To"].split(", ")]

    def arrived_for(self, address: str) -> bool:
        """Whether a message to `address` reached DATA (it may still be held, or have been dropped)."""
        with self._lock:
            return address in self.arriving

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


if __name__ == "__main__":  # python deploy/local/mailsink.py PORT FOLDER: a sink on its own
    sink = MailSink(port=int(sys.argv[1]), folder=Path(sys.argv[2])).start()
    print(f"SMTP sink on {sink.host}:{sink.port}, messages in {sink.folder}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sink.stop()
