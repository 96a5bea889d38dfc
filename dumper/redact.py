"""``--redact-auth``: copies of production data without the keys to production accounts.

The secrets in Supabase's ``auth`` schema (password hashes, one-time and refresh tokens,
MFA seeds, OAuth provider tokens) are replaced *in the COPY query*, so they never leave the
server. The placeholders keep rows restorable and the application's assumptions intact:
NULL stays NULL and '' stays '' (GoTrue treats those differently), unique columns stay
unique (the placeholder carries an md5 of the old value), and a password hash becomes a
well-formed bcrypt string that no password matches.
"""

from __future__ import annotations

from dumper.ident import quote_ident, quote_literal

# A syntactically valid bcrypt hash whose 31-character salt+hash part contains a character
# ('!') outside bcrypt's alphabet: every verification fails, nothing crashes.
_DEAD_BCRYPT = "$2a$10$" + "!" * 53

_SECRET = "secret"  # replaced by a constant
_UNIQUE = "unique"  # replaced by a constant + md5 of the old value
_PASSWORD = "password"

RULES: dict[tuple[str, str], dict[str, str]] = {
    ("auth", "users"): {
        "encrypted_password": _PASSWORD, "confirmation_token": _SECRET, "recovery_token": _SECRET,
        "email_change_token_new": _SECRET, "email_change_token_current": _SECRET,
        "phone_change_token": _SECRET, "reauthentication_token": _SECRET,
    },
    ("auth", "refresh_tokens"): {"token": _UNIQUE},
    ("auth", "sessions"): {"refresh_token_hmac_key": _SECRET},
    ("auth", "one_time_tokens"): {"token_hash": _UNIQUE},
    ("auth", "mfa_factors"): {"secret": _SECRET},
    ("auth", "mfa_challenges"): {"otp_code": _SECRET},
    ("auth", "flow_state"): {"auth_code": _UNIQUE, "provider_access_token": _SECRET, "provider_refresh_token": _SECRET},
    ("auth", "oauth_clients"): {"client_secret_hash": _SECRET},
}


def redacted_select(schema: str, table: str, identity: str, columns: list[str]) -> str | None:
    """``SELECT ... FROM ONLY table`` with secrets replaced, or None when nothing needs it."""
    rules = RULES.get((schema, table))
    if not rules or not any(c in rules for c in columns):
        return None
    parts = []
    for col in columns:
        kind = rules.get(col)
        if kind is None:
            parts.append(quote_ident(col))
            continue
        c = quote_ident(col)
        if kind == _PASSWORD:
            new = quote_literal(_DEAD_BCRYPT)
        elif kind == _UNIQUE:
            new = f"'redacted-' || pg_catalog.md5({c}::text)"
        else:
            new = "'redacted'"
        # The column keeps its type: COPY then prints the placeholder as that type would.
        parts.append(f"CASE WHEN {c} IS NULL OR {c}::text = '' THEN {c}::text ELSE {new} END AS {c}")
    return f"SELECT {', '.join(parts)} FROM ONLY {identity}"


def redacted_columns(schema: str, table: str, columns: list[str]) -> list[str]:
    rules = RULES.get((schema, table), {})
    return [c for c in columns if c in rules]
