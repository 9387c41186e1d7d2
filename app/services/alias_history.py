"""Usage history of keys deleted in LiteLLM before the portal stored their token id.

``/key/list`` no longer shows such a key, so its token id cannot be learnt there; LiteLLM's
daily activity still names each token's ``key_alias`` and ``user_id`` (read-time metadata, from
its archive of deleted keys). A token counts as the key's only when BOTH equal the portal's
alias and owner: the alias alone could be someone else's reused name, and LiteLLM's
``user_id`` filter is not trusted (docs/litellm.md).
"""

from __future__ import annotations

import datetime as dt

from app.models import ApiKey
from app.services.litellm import DailyActivity


def history_by_alias(
    key: ApiKey, start: dt.date, end: dt.date, *, client, refresh: bool = False
) -> tuple[DailyActivity, set[str]]:
    """ONE daily-activity call for the key's owner, and the token ids whose entries carry the
    key's alias and owner (empty when LiteLLM names none)."""
    owner = key.user.litellm_user_id
    activity = client.daily_activity(start, end, user_id=owner, force_refresh=refresh)
    tokens = {
        token
        for day in activity.days
        for token, entry in day.api_keys.items()
        if entry.key_alias == key.alias and entry.user_id == owner
    }
    return activity, tokens
