"""What each bureau is told to do with a registry row: verdict + registry status -> action.

A visit produces evidence, not a legal status (DOMAIN.md §5): abnormal-taxpayer, abnormal-list,
revocation and deregistration decisions are the bureaus' own. The system sends candidates.

| verdict                          | tax bureau                    | commerce bureau              |
|----------------------------------|-------------------------------|------------------------------|
| operating, details confirmed     | keep                          | keep                         |
| operating_changed, relocated     | update_details (纳税人信息)   | update_details (登记住所)    |
| shell, not_found (confirmed      | abnormal_candidate            | abnormal_candidate           |
| by two visits)                   | (非正常户认定候选)            | (经营异常名录候选)           |
| closed                           | deregistration_candidate      | deregistration_candidate     |
|                                  | (注销/停业)                   | (注销)                       |
| discovered, or listed with the   | new_unregistered (漏征漏管)   | new_unregistered             |
| other bureau only, operating     |                               | (未登记经营主体)             |
| operating, though the registry   | unregistered_operation        | unregistered_operation       |
| says deregistered or revoked     | (注销/吊销后仍经营)           | (无照经营)                   |
| registry status 非正常/经营异常  | lift_abnormal                 | lift_abnormal                |
| contradicted by operating        | (可解除非正常户)              | (可移出经营异常名录)         |
| duplicate registrations of one   | merge_duplicate               | merge_duplicate              |
| business                         |                               |                              |
| refused / unreachable after the  | unresolved (kept on the list) | unresolved                   |
| last attempt, or not visited     |                               |                              |

Where several lines apply, the first that fits wins, in this order:
1. A row the bureau's list does not have -> new_unregistered.
2. No verdict, or `unresolved` -> merge_duplicate when the record is a live duplicate, else
   unresolved.
3. Operating verdicts (operating, operating_changed, relocated):
   deregistered or revoked -> unregistered_operation; abnormal -> lift_abnormal (the corrected
   details travel in the row's correction columns); live duplicate -> merge_duplicate;
   operating_changed or relocated, or a registry that says suspended (停业/歇业) ->
   update_details; else keep.
4. closed: already deregistered -> keep (the registry agrees); else deregistration_candidate.
5. shell / not_found: already deregistered or already abnormal -> keep; revoked (吊销未注销)
   -> deregistration_candidate (evidence for 强制注销); else abnormal_candidate.

"Live duplicate": the bureau has more than one current, not deregistered and not revoked
record linked to the same business, and this is one of them (a deregistered record next to a
new one is a re-registration, not a duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass

BUREAUS = ("tax", "commerce")
ACTIONS = (
    "keep",
    "update_details",
    "abnormal_candidate",
    "deregistration_candidate",
    "lift_abnormal",
    "unregistered_operation",
    "merge_duplicate",
    "new_unregistered",
    "unresolved",
)
OPERATING_VERDICTS = frozenset({"operating", "operating_changed", "relocated"})
NEGATIVE_VERDICTS = frozenset({"shell", "not_found"})
# Registry statuses after which a business may no longer trade.
ENDED_STATUSES = frozenset({"deregistered", "revoked"})

# Per bureau: action -> (label in the file, short sheet name of at most 31 characters).
ACTION_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "tax": {
        "keep": ("维持现状（核实正常经营）", "维持现状"),
        "update_details": ("更新纳税人信息", "更新信息"),
        "abnormal_candidate": ("非正常户认定候选（实地查无下落）", "非正常户候选"),
        "deregistration_candidate": ("注销或停业候选", "注销停业候选"),
        "lift_abnormal": ("可解除非正常户（实地核实在营）", "可解除非正常户"),
        "unregistered_operation": ("注销或吊销后仍在经营（漏征风险）", "注销后仍经营"),
        "merge_duplicate": ("重复登记，待合并", "重复登记"),
        "new_unregistered": ("新增应登记纳税人（漏征漏管）", "漏征漏管"),
        "unresolved": ("未能核实，保留在册", "未能核实"),
    },
    "commerce": {
        "keep": ("维持现状（核实正常经营）", "维持现状"),
        "update_details": ("更新登记信息（住所、经营场所）", "更新登记"),
        "abnormal_candidate": ("列入经营异常名录候选（通过登记住所无法联系）", "经营异常候选"),
        "deregistration_candidate": ("注销候选", "注销候选"),
        "lift_abnormal": ("可移出经营异常名录（实地核实在营）", "可移出异常名录"),
        "unregistered_operation": ("无照经营（注销或吊销后仍在经营）", "无照经营"),
        "merge_duplicate": ("重复登记，待合并", "重复登记"),
        "new_unregistered": ("未登记经营主体", "未登记主体"),
        "unresolved": ("未能核实，保留在册", "未能核实"),
    },
}

VERDICT_LABELS: dict[str | None, str] = {
    "operating": "正常经营",
    "operating_changed": "在营，信息有变",
    "relocated": "已迁址经营",
    "closed": "已停业或关闭",
    "shell": "空壳（无实际经营）",
    "not_found": "查无此户",
    "unresolved": "未能核实（拒访或多次无人）",
    None: "未走访",
}


@dataclass(frozen=True)
class Situation:
    """What is known of one registry row: the campaign's verdict and the bureau's record."""

    verdict: str | None
    reg_status: str | None = None
    listed: bool = True
    duplicate: bool = False


def recommend(bureau: str, situation: Situation) -> str:
    """The action code for `bureau` (see the table in this module's docstring)."""
    if bureau not in BUREAUS:
        raise ValueError(f"unknown bureau {bureau!r}")
    verdict, status = situation.verdict, situation.reg_status
    if not situation.listed:
        return "new_unregistered"
    if verdict is None or verdict == "unresolved":
        return "merge_duplicate" if situation.duplicate else "unresolved"
    if verdict in OPERATING_VERDICTS:
        if status in ENDED_STATUSES:
            return "unregistered_operation"
        if status == "abnormal":
            return "lift_abnormal"
        if situation.duplicate:
            return "merge_duplicate"
        if verdict != "operating" or status == "suspended":
            return "update_details"
        return "keep"
    if verdict == "closed":
        return "keep" if status == "deregistered" else "deregistration_candidate"
    if verdict in NEGATIVE_VERDICTS:
        if status in ("deregistered", "abnormal"):
            return "keep"
        if status == "revoked":
            return "deregistration_candidate"
        return "abnormal_candidate"
    raise ValueError(f"unknown verdict {verdict!r}")


def action_label(bureau: str, action: str) -> str:
    """The action as the bureau reads it in the file."""
    return ACTION_LABELS[bureau][action][0]


def sheet_name(bureau: str, action: str) -> str:
    """The short name of the action's sheet in the XLSX file."""
    return ACTION_LABELS[bureau][action][1]
