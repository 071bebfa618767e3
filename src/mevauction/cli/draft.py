"""``mevauction algorithm new --draft "…"``: ask an OpenAI-compatible chat-completions
endpoint the user names to draft an algorithm, write it, and check it in the jail.

The draft is untrusted code from a model: this process only writes it to a file and
runs ``algorithm check`` on it, which runs it jailed exactly as the auction would (it is
never imported or executed here). The API key comes from ``MEVAUCTION_LLM_KEY`` only and
is never printed, logged or written: every error names the problem and the endpoint.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

from mevauction.errors import InputError
from mevauction.sandbox.jail import guest_file

URL_ENV, KEY_ENV = "MEVAUCTION_LLM_URL", "MEVAUCTION_LLM_KEY"
DEFAULT_MODEL = "gpt-4o-mini"
TIMEOUT_S = 120
MAX_REPLY_BYTES = 1 << 20
MAX_DESCRIPTION = 4000
CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)

# The rules; the exact API is mevalgo's own source, sent beside them (one home for it).
PROTOCOL = """\
Protocol mevauction.algorithm/1. The script defines build(slot, sim) and ends with
mevalgo.run(build); mevalgo (its source follows) is the only non-standard module it may import.
build returns (sequence of order ids, bid): the bid an integer in wei, or "truthful".
Each order id at most once, only ids from slot.orders; return before slot.time_left() runs out.
The sandbox has no network, no files, no environment: use only the Python standard library.
"""


def endpoint_url(endpoint: str | None) -> str:
    url = endpoint or os.environ.get(URL_ENV, "")
    if not url:
        raise InputError("--endpoint", f"name the chat-completions endpoint (--endpoint URL or {URL_ENV})")
    if not url.startswith(("http://", "https://")):
        raise InputError("--endpoint", "must be an http:// or https:// URL")
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else url + "/chat/completions"


def messages(description: str) -> list[dict[str, str]]:
    template, library = guest_file("template.py").decode(), guest_file("mevalgo.py").decode()
    return [
        {"role": "system", "content": "You write block-building algorithms for the mevauction sandbox. "
                                      "Reply with one complete Python script in a single ```python code block.\n\n"
                                      + PROTOCOL + "\nmevalgo.py:\n```python\n" + library + "```"
                                      + "\nThe template:\n```python\n" + template + "```"},
        {"role": "user", "content": description},
    ]


def ask(url: str, model: str, description: str) -> str:
    """The reply's text (raises InputError naming what went wrong, never the key)."""
    body = json.dumps({"model": model, "messages": messages(description), "temperature": 0}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = os.environ.get(KEY_ENV)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            raw = resp.read(MAX_REPLY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise InputError("--endpoint", f"{url} answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError("--endpoint", f"cannot reach {url}: {reason}") from None
    if len(raw) > MAX_REPLY_BYTES:
        raise InputError("--endpoint", f"{url} sent a reply over {MAX_REPLY_BYTES >> 20} MiB")
    try:
        doc: Any = json.loads(raw)
        content = doc["choices"][0]["message"]["content"]
    except (ValueError, UnicodeDecodeError):
        raise InputError("--endpoint", f"{url} did not answer JSON") from None
    except (KeyError, IndexError, TypeError):
        raise InputError("--endpoint", f"{url} answered JSON without choices[0].message.content") from None
    if not isinstance(content, str):
        raise InputError("--endpoint", f"{url} answered a non-text message content")
    return content


def extract(content: str) -> str:
    found = CODE_BLOCK.search(content)
    if found is None or not found.group(1).strip():
        raise InputError("--draft", "the model's reply has no ```python code block")
    code = found.group(1)
    return code if code.endswith("\n") else code + "\n"


def draft(description: str, endpoint: str | None, model: str | None) -> bytes:
    """The drafted script's bytes (not run here)."""
    if not description.strip():
        raise InputError("--draft", "describe the algorithm to draft")
    if len(description) > MAX_DESCRIPTION:
        raise InputError("--draft", f"at most {MAX_DESCRIPTION} characters")
    return extract(ask(endpoint_url(endpoint), model or DEFAULT_MODEL, description)).encode()
