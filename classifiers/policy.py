"""The decision policy: per-category thresholds per age band turn scores into an outcome.

Classifiers only score; every allow/review/block in provgate comes from here, so the
policy version recorded with each decision identifies exactly which rules applied.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.api import Decision

from .base import TEEN_CATEGORIES, Scores

POLICY_VERSION = "2026.11-2"


@dataclass(frozen=True)
class Thresholds:
    review: float
    block: float


NEVER = Thresholds(review=2.0, block=2.0)


@dataclass(frozen=True)
class Policy:
    version: str = POLICY_VERSION
    default: dict[str, Thresholds] = field(
        default_factory=lambda: {
            "adult": Thresholds(review=0.5, block=0.85),
            "teen": Thresholds(review=0.3, block=0.6),
        }
    )
    per_category: dict[str, dict[str, Thresholds]] = field(
        default_factory=lambda: {
            "sexual/minors": {"adult": Thresholds(0.3, 0.5), "teen": Thresholds(0.3, 0.5)},
            "sexual": {"adult": Thresholds(0.5, 0.85), "teen": Thresholds(0.2, 0.3)},
            "violence/graphic": {"adult": Thresholds(0.6, 0.9), "teen": Thresholds(0.3, 0.5)},
            "self-harm/instructions": {"adult": Thresholds(0.3, 0.6), "teen": Thresholds(0.2, 0.4)},
            # Teen-only signals: never a finding for adults; blocked for teens.
            **{c: {"adult": NEVER, "teen": Thresholds(0.5, 0.5)} for c in TEEN_CATEGORIES},
        }
    )

    def thresholds(self, category: str, age_band: str) -> Thresholds:
        band = age_band if age_band in self.default else "adult"
        return self.per_category.get(category, {}).get(band, self.default[band])

    def decide(
        self, scores: Scores, age_band: str = "adult", *, stage: str = "prompt", forced: list[str] | None = None
    ) -> Decision:
        """``forced`` reasons (a failed check, a missing model) send to review at least."""
        outcome = "allow"
        reasons: list[str] = []
        for category, score in sorted(scores.categories.items(), key=lambda kv: -kv[1]):
            t = self.thresholds(category, age_band)
            if score >= t.block:
                outcome = "block"
                reasons.append(f"{category} {score:.2f} >= block {t.block:.2f}")
            elif score >= t.review:
                if outcome == "allow":
                    outcome = "review"
                reasons.append(f"{category} {score:.2f} >= review {t.review:.2f}")
        if forced:
            if outcome == "allow":
                outcome = "review"
            reasons.extend(forced)
        evidence = [r for r in scores.reasons if outcome != "allow"]
        return Decision(
            outcome=outcome,  # type: ignore[arg-type]
            reasons=reasons + evidence,
            categories={k: round(v, 4) for k, v in scores.categories.items()},
            policy_version=self.version,
            stage=stage,
        )

    def flagged(self, scores: Scores, age_band: str = "adult") -> dict[str, bool]:
        return {c: s >= self.thresholds(c, age_band).review for c, s in scores.categories.items()}
