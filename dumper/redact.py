"""``--redact-auth``: copies of production data without the keys to production accounts.

The secrets in Supabase's ``auth`` schema (password hashes, one-time and refresh tokens,
MFA seeds, OAuth provider tokens) are replaced *in the COPY query*, so they never leave the
server. The placeholders keep rows restorable and the application's assumptions intact:

- NULL stays NULL and '' stays '' (GoTrue treats the two differently);
- every other token becomes ``redacted-<md5(salt || value)>`` with a random salt made for
  this one dump and never written anywhere: equal tokens stay equal (so the partial unique
  indexes on token columns hold and ``refresh_tokens.parent`` still points at its parent's
  token), different tokens stay different, and without the salt nobody can test guesses
  of a low-entropy secret (a 6-digit OTP) against the placeholder;
- a password hash becomes a well-formed bcrypt string that no password matches.
"""

from __future__ import annotations

import secrets

from dumper.ident import quote_ident, quote_literal

# A bcrypt-shaped hash whose salt+hash part uses a character ('!') outside bcrypt's alphabet:
# every verification fails, nothing crashes.
_DEAD_BCRYPT = "$2a$10$" + "!" * 53

_TOKEN = "token"
_PASSWORD = "password"

RULES: dict[tuple[str, str], dict[str, str]] = {
    ("auth", "users"): {
        "encrypted_password": _PASSWORD, "confirmation_token": _TOKEN, "recovery_token": _TOKEN,
        "email_change_token_new": _TOKEN, "email_change_token_current": _TOKEN,
        "phone_change_token": _TOKEN, "reauthentication_token": _TOKEN,
    },
    ("auth", "refresh_tokens"): {"token": _TOKEN, "parent": _TOKEN},
    ("auth", "sessions"): {"refresh_token_hmac_key": _TOKEN},
    ("auth", "one_time_tokens"): {"token_hash": _TOKEN},
    ("auth", "mfa_factors"): {"secret": _TOKEN},
    ("auth", "mfa_challenges"): {"otp_code": _TOKEN},
    ("auth", "flow_state"): {"auth_code": _TOKEN, "provider_access_token": _TOKEN, "provider_refresh_token": _TOKEN},
    ("auth", "oauth_clients"): {"client_secret_hash": _TOKEN},
}

_SALT = secrets.token_hex(16)  # one per process, i.e. per dump


def redacted_select(schema: str, table: str, identity: str, columns: list[str]) -> str | None:
    """``SELECT ... FROM ONLY table`` with secrets replaced, or None when nothing needs it."""
    rules = RULES.get((schema, table))
    if not rules or not any(c in rules for c in columns):
        return None
    parts = []
    for col in columns:
        kind = rules.get(col)
        c = quote_ident(col)
        if kind is None:
            parts.append(c)
            continue
        if kind == _PASSWORD:
            new = quote_literal(_DEAD_BCRYPT)
        else:
            new = f"'redacted-' || pg_catalog.md5({quote_literal(_SALT)} || {c}::text)"
        # COPY prints the text; loading it back into the column's own type works for text types.
        parts.append(f"CASE WHEN {c} IS NULL OR {c}::text = '' THEN {c}::text ELSE {new} END AS {c}")
    return f"SELECT {', '.join(parts)} FROM ONLY {identity}"


def redacted_columns(schema: str, table: str, columns: list[str]) -> list[str]:
    rules = RULES.get((schema, table), {})
    return [c for c in columns if c in rules]


def user_mapping_warning(target: str, server: str, dropped: list[str]) -> str:
    """The warning for a user mapping whose secret options ``--redact-auth`` left out."""
    return (
        f"user mapping for {target} on server {quote_ident(server)}: option {', '.join(dropped)} not dumped "
        "(--redact-auth); set it again with ALTER USER MAPPING after restoring"
    )
