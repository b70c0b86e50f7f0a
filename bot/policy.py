"""Where the bot answers, what it may cite there, and who may operate it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import Settings
from knowledge.retrieval import Filters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Policy:
    answer_channels: frozenset[str] = frozenset()  # empty: every channel
    answer_dms: bool = True
    draft_channels: frozenset[str] = frozenset()
    internal_channels: frozenset[str] = frozenset()
    operator_ids: frozenset[str] = frozenset()
    operator_group: str | None = None
    support_group: str | None = None

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            answer_channels=frozenset(s.slack_answer_channels), answer_dms=s.slack_answer_dms,
            draft_channels=frozenset(s.slack_draft_channels), internal_channels=frozenset(s.slack_internal_channels),
            operator_ids=frozenset(s.slack_operator_user_ids), operator_group=s.slack_operator_usergroup,
            support_group=s.slack_support_usergroup,
        )

    def answers_in(self, channel: str, channel_type: str | None = None) -> bool:
        if channel_type == "im" or channel.startswith("D"):
            return self.answer_dms
        return not self.answer_channels or channel in self.answer_channels

    def filters_for(self, channel: str | None) -> Filters:
        """Published, public documents everywhere unless the channel is listed for more."""
        return Filters(include_drafts=channel in self.draft_channels, include_internal=channel in self.internal_channels)

    def is_operator(self, client: WebClient, user_id: str) -> bool:
        if user_id in self.operator_ids:
            return True
        if not self.operator_group:
            return False
        try:
            members = client.usergroups_users_list(usergroup=self.operator_group)["users"]
        except SlackApiError as exc:  # missing usergroups:read scope or a wrong id: deny, and say why in the log
            log.warning("cannot read operator group %s: %s", self.operator_group, exc.response.get("error"))
            return False
        return user_id in members
