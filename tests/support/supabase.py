"""What a new Supabase project looks like to its ``postgres`` role, for restore tests.

The ``auth`` and ``storage`` schemas with their tables, types and sequences already exist,
owned by ``supabase_auth_admin`` / ``supabase_storage_admin``; the restoring role (``{role}``)
has only the grants Supabase gives ``postgres`` on them. The platform's auth schema is another
GoTrue version than a source's: ``auth.users`` lacks ``is_super_admin`` and has an extra
``instance_id`` (supabase/cli#1845), and ``auth.schema_migrations`` already holds the
platform's own row (the duplicate-key failure of supabase#35188).
"""

TARGET_PLATFORM = """
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
CREATE SCHEMA storage AUTHORIZATION supabase_storage_admin;
SET ROLE supabase_auth_admin;
CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
CREATE TABLE auth.users (
    instance_id uuid, id uuid PRIMARY KEY, email varchar(255), encrypted_password text,
    email_confirmed_at timestamptz, raw_app_meta_data jsonb DEFAULT '{}'::jsonb, raw_user_meta_data jsonb,
    phone text UNIQUE DEFAULT NULL, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz,
    deleted_at timestamptz);
CREATE TABLE auth.identities (
    provider_id text NOT NULL, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    identity_data jsonb NOT NULL, provider text NOT NULL, last_sign_in_at timestamptz, created_at timestamptz,
    email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY, UNIQUE (provider_id, provider));
CREATE TABLE auth.sessions (
    id uuid PRIMARY KEY, user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    aal auth.aal_level, not_after timestamptz, user_agent text, ip inet, created_at timestamptz);
CREATE TABLE auth.refresh_tokens (
    id bigserial PRIMARY KEY, token varchar(255) UNIQUE, user_id varchar(255), revoked boolean,
    session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE, parent varchar(255), created_at timestamptz);
CREATE TABLE auth.schema_migrations (version text PRIMARY KEY);
INSERT INTO auth.schema_migrations VALUES ('20240101000000');
RESET ROLE;
SET ROLE supabase_storage_admin;
CREATE TABLE storage.buckets (
    id text PRIMARY KEY, name text NOT NULL UNIQUE, owner uuid, public boolean DEFAULT false,
    file_size_limit bigint, allowed_mime_types text[], created_at timestamptz DEFAULT now());
CREATE TABLE storage.objects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), bucket_id text REFERENCES storage.buckets (id), name text,
    owner uuid, metadata jsonb, path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
    version text, created_at timestamptz DEFAULT now(), UNIQUE (bucket_id, name));
RESET ROLE;
GRANT USAGE ON SCHEMA auth, storage TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE, REFERENCES, TRUNCATE ON ALL TABLES IN SCHEMA auth, storage TO {role};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA auth TO {role};
"""
