"""The frameworks and their flows, built once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from bot.errors import InvalidInput
from flows.answers import AnswerRecord
from flows.contact import contact_questions
from flows.definitions import Framework
from flows.engine import Flow
from flows.icp import IcpConfig, fit_score, icp_questions
from flows.scoring import ScoreResult, score


class FlowRegistry:
    """One shared `Flow` (and so one `transitions.Machine`) per framework."""

    def __init__(self, frameworks: Mapping[str, Framework], icp: IcpConfig | None = None) -> None:
        self.icp = icp or IcpConfig()
        contact = contact_questions()
        icp_qs = icp_questions(self.icp) if self.icp.enabled else []
        self.flows = {fid: Flow(fw, contact, icp_qs) for fid, fw in frameworks.items()}

    @property
    def icp_enabled(self) -> bool:
        return self.icp.enabled

    def get(self, framework_id: str) -> Flow:
        flow = self.flows.get(framework_id.strip().lower())
        if flow is None:
            known = ", ".join(sorted(self.flows))
            raise InvalidInput(f"Unknown framework {framework_id!r}. Choose one of: {known}.")
        return flow

    def score(self, flow: Flow, answers: Mapping[str, AnswerRecord], *, as_of: date) -> ScoreResult:
        return score(flow.framework, answers, as_of=as_of)

    def fit(self, answers: Mapping[str, AnswerRecord]) -> float | None:
        return fit_score(self.icp, answers).score
