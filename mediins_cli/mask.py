"""Masking of personal numbers and names for the terminal and logs (DESIGN §7).

Output files hold full data; everything a person reads on a screen or in a log goes through here.
"""

from __future__ import annotations


def mask_id(value: str | None) -> str:
    """``110101199003071234`` → ``110101********1234``; short documents keep 2 + 2."""
    if not value:
        return ""
    if len(value) >= 15:
        return f"{value[:6]}********{value[-4:]}"
    if len(value) >= 6:
        return f"{value[:2]}{'*' * (len(value) - 4)}{value[-2:]}"
    return "*" * len(value)


def mask_account(value: str | None) -> str:
    """``6214830012345678`` → ``6214********5678`` (the length is hidden too)."""
    if not value:
        return ""
    if len(value) >= 10:
        return f"{value[:4]}********{value[-4:]}"
    return "*" * len(value)


def mask_name(value: str | None) -> str:
    """``张三`` → ``张*``; ``欧阳娜娜`` → ``欧***``; ``SMITH JOHN`` → ``S*********``."""
    if not value:
        return ""
    return value[0] + "*" * (len(value) - 1)
