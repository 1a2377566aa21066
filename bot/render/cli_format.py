"""``experimentos analyze --format blocks``: the exact Block Kit JSON the bot would post.

Registered as the ``blocks`` plugin of the ``experimentos.formats`` entry-point group (see
pyproject.toml), so the domain's command line never imports the Slack shell.
"""

from __future__ import annotations

import json

from bot.render.card import card_text, render_card
from experimentos.model import Analysis


def card_json(analysis: Analysis) -> str:
    """The chat.postMessage arguments of the card: the ``text`` fallback and the ``blocks``."""
    blocks = render_card(analysis, key=analysis.experiment.checksum[:16])
    message = {"text": card_text(analysis), "blocks": [block.to_dict() for block in blocks]}
    return json.dumps(message, indent=2, ensure_ascii=False) + "\n"
