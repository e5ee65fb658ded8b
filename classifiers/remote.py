"""Remote prompt classifiers, for platforms that already use them (selected by config):

- ``openai``: OpenAI's moderation endpoint (``POST /v1/moderations``, omni-moderation). Its
  categories are the same as provgate's first thirteen; scores are used as they come.
- ``llamaguard``: a Llama-Guard-style model behind an OpenAI-compatible chat endpoint
  (``POST /v1/chat/completions``); it answers ``safe`` or ``unsafe`` and a line of hazard
  codes (S1..S14, Llama Guard 3's taxonomy), mapped onto provgate's categories.

Both are extra layers: they add to the local classifiers, never replace them. A remote
error, timeout or unreadable answer raises :class:`ClassifierError`, so admission answers
503 and nothing is admitted unchecked (fail closed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import httpx

from .base import CATEGORIES, ClassifierError, PromptClassifier, Scores

# Llama Guard 3 hazard categories -> provgate categories.
LLAMA_GUARD_CODES: dict[str, tuple[str, ...]] = {
    "S1": ("violence", "illicit/violent", "illicit"),  # violent crimes
    "S2": ("illicit",),  # non-violent crimes
    "S3": ("sexual",),  # sex-related crimes
    "S4": ("sexual/minors", "sexual"),  # child sexual exploitation
    "S5": ("deception/impersonation",),  # defamation
    "S6": (),  # specialised advice
    "S7": ("harassment",),  # privacy
    "S8": (),  # intellectual property
    "S9": ("illicit/violent", "illicit"),  # indiscriminate weapons
    "S10": ("hate",),  # hate
    "S11": ("self-harm",),  # suicide and self-harm
    "S12": ("sexual",),  # sexual content
    "S13": ("deception/impersonation",),  # elections
    "S14": (),  # code interpreter abuse
}


def _env(env: Mapping[str, str] | None, name: str, default: str = "") -> str:
    e = os.environ if env is None else env
    return e.get(f"PROVGATE_{name}", default)


class _Remote(PromptClassifier):
    def __init__(self, url: str, api_key: str, model: str, timeout_s: float, attempts: int = 2) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{self.name}: the endpoint must be an http(s) URL, got {url!r}")
        self.url, self.model, self.timeout_s, self.attempts = url, model, timeout_s, attempts
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout_s)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        last = ""
        for attempt in range(self.attempts):
            try:
                r = self._client.post(self.url, json=body)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if r.status_code == 200:
                    try:
                        data = r.json()
                    except ValueError:
                        raise ClassifierError(f"{self.name}: the endpoint answered with something not JSON") from None
                    if not isinstance(data, dict):
                        raise ClassifierError(f"{self.name}: unexpected answer {str(data)[:100]!r}")
                    return data
                last = f"HTTP {r.status_code}: {r.text[:200]}"
                if r.status_code not in (429, 500, 502, 503, 504):
                    break
            if attempt + 1 < self.attempts:
                time.sleep(0.2 * (attempt + 1))
        raise ClassifierError(f"{self.name}: {last}")

    def close(self) -> None:
        self._client.close()


class OpenAIModerationClassifier(_Remote):
    name = "openai"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpenAIModerationClassifier:
        return cls(
            _env(env, "OPENAI_MODERATION_URL", "https://api.openai.com/v1/moderations"),
            _env(env, "OPENAI_API_KEY"),
            _env(env, "OPENAI_MODERATION_MODEL", "omni-moderation-latest"),
            float(_env(env, "REMOTE_CLASSIFIER_TIMEOUT_S", "5")),
        )

    def _score(self, text: str) -> Scores:
        data = self._post({"model": self.model, "input": text})
        try:
            result = data["results"][0]
            raw = result["category_scores"]
            cats = {c: round(float(v), 4) for c, v in raw.items() if c in CATEGORIES}
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ClassifierError(f"openai: unexpected moderation answer ({exc})") from exc
        flagged = sorted(c for c, on in (result.get("categories") or {}).items() if on)
        return Scores(cats, [f"openai: flagged {', '.join(flagged)}"] if flagged else [])


class LlamaGuardClassifier(_Remote):
    name = "llamaguard"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlamaGuardClassifier:
        url = _env(env, "LLAMAGUARD_URL")
        if not url:
            raise ValueError("PROVGATE_LLAMAGUARD_URL is not set (an OpenAI-compatible /v1/chat/completions URL)")
        return cls(
            url,
            _env(env, "LLAMAGUARD_API_KEY"),
            _env(env, "LLAMAGUARD_MODEL", "meta-llama/Llama-Guard-3-8B"),
            float(_env(env, "REMOTE_CLASSIFIER_TIMEOUT_S", "5")),
        )

    def _score(self, text: str) -> Scores:
        data = self._post(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": text}],
                "temperature": 0,
                "max_tokens": 20,
            }
        )
        try:
            answer = str(data["choices"][0]["message"]["content"]).strip()
        except (KeyError, IndexError, TypeError) as exc:
            raise ClassifierError(f"llamaguard: unexpected chat answer ({exc})") from exc
        lines = [ln.strip() for ln in answer.splitlines() if ln.strip()]
        verdict = lines[0].lower() if lines else ""
        if verdict == "safe":
            return Scores()
        if verdict != "unsafe":
            raise ClassifierError(f"llamaguard: the model answered neither safe nor unsafe: {answer[:80]!r}")
        codes = [c.strip().upper() for c in (lines[1] if len(lines) > 1 else "").split(",") if c.strip()]
        cats: dict[str, float] = {}
        for code in codes:
            for cat in LLAMA_GUARD_CODES.get(code, ()):
                cats[cat] = 1.0
        if not cats:
            # Unsafe without a code we map: still not a pass.
            cats["illicit"] = 0.6
        return Scores(cats, [f"llamaguard: unsafe ({', '.join(codes) or 'no category'})"])
