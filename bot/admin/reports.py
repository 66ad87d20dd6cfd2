"""The texts admins read: what a policy upload changed, how the assistant did over a
period (`/stats`), and the questions it could not answer well (`/unanswered`). English,
plain text (no markup: section titles and questions are shown as they are)."""

from __future__ import annotations

from backend.shop_stats import ShopStats
from bot.admin.clusters import QuestionGroup
from indexer.policy_update import PolicyUpdate
from indexer.shops import Shop

STATUS_WORDS = {
    "identity_pending": "awaiting verification",
    "verified": "verified",
    "in_progress": "in progress",
    "completed": "completed",
    "denied": "denied",
    "canceled": "canceled",
    "expired": "expired",
}
EXAMPLE_MAX_CHARS = 200


def update_text(shop: Shop, update: PolicyUpdate) -> str:
    lines = update.describe()
    if update.action == "upload":
        lines.append(
            f"The previous version is kept: /policy_rollback {shop.id} restores it. "
            "Customers who asked with /notify are told what changed."
        )
    return "\n".join(lines)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def stats_text(shop: Shop, stats: ShopStats, days: int) -> str:
    asked = stats.questions
    below = asked["below_threshold"]
    lines = [
        f"{shop.name} ({shop.id}), the last {days} days",
        f"Questions: {asked['questions']}; answered {asked['answered']}, below the confidence "
        f"threshold {below} ({_share(below, asked['questions'])})",
        f"Feedback on answers: {asked['helpful']} helpful, {asked['not_helpful']} not helpful",
    ]
    rating = (
        f"rated {stats.rating_average:.1f} of 5 on average ({stats.ratings} ratings)"
        if stats.rating_average is not None
        else "no ratings"
    )
    lines.append(f"Hand-offs to a person: {stats.handoffs} ({stats.handoffs_open} open); {rating}")
    total = sum(sum(by_status.values()) for by_status in stats.requests.values())
    lines.append(f"Privacy requests: {total}")
    for kind in sorted(stats.requests):
        by_status = stats.requests[kind]
        parts = ", ".join(
            f"{STATUS_WORDS.get(status, status)} {count}"
            for status, count in sorted(by_status.items())
        )
        lines.append(f"  {kind}: {sum(by_status.values())} ({parts})")
    lines.append(f"Overdue now (any age): {stats.overdue}")
    if asked["questions"]:
        lines.append(f"/unanswered {shop.id} {days} shows what the policy lacks.")
    return "\n".join(lines)


def unanswered_text(shop: Shop, groups: list[QuestionGroup], total: int, days: int) -> str:
    if not groups:
        return (
            f"{shop.name}: no question of the last {days} days fell below the threshold "
            "or was found not helpful."
        )
    lines = [
        f"{shop.name}: {total} questions of the last {days} days were answered poorly "
        f"(below the threshold, or not helpful), in {len(groups)} groups, most frequent first:"
    ]
    for rank, group in enumerate(groups, start=1):
        example = " ".join(group.example.split())
        if len(example) > EXAMPLE_MAX_CHARS:
            example = example[: EXAMPLE_MAX_CHARS - 1] + "…"
        wordings = f", {group.wordings} wordings" if group.wordings > 1 else ""
        lines.append(f"{rank}. {group.count}×{wordings}: “{example}”")
    lines.append(
        f"Where the policy does answer one, teach it: /teach {shop.id}, then the question and "
        "the policy's words that answer it, each on a line of its own."
    )
    return "\n".join(lines)
