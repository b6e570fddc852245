"""The letter avatars Sentry shows for what has no uploaded image."""

from __future__ import annotations

# users and organizations (``avatarUrl`` included)
AVATAR = {"avatarType": "letter_avatar", "avatarUuid": None, "avatarUrl": None}
# teams and projects, which never have an upload
LETTER_AVATAR = {"avatarType": "letter_avatar", "avatarUuid": None}
