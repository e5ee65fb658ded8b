-- Cameos: enrolled faces with their owners' consent policies, users' connections and
-- guardian settings, and every appearance of a cameo's face in a generation.
CREATE TABLE users (
    tenant_id        uuid NOT NULL REFERENCES tenants(id),
    user_id          text NOT NULL,
    age_band         text,                       -- the last one the platform asserted
    guardian_limit   integer,                    -- guardian: daily generation limit (teens)
    guardian_cameos  boolean,                    -- guardian: cameos allowed (teens); NULL = unset
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id)
);

CREATE TABLE user_connections (
    tenant_id   uuid NOT NULL REFERENCES tenants(id),
    user_id     text NOT NULL,
    other_id    text NOT NULL,
    PRIMARY KEY (tenant_id, user_id, other_id)
);

CREATE TABLE cameos (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants(id),
    owner_id          text NOT NULL,
    owner_age_band    text NOT NULL,
    protected         boolean NOT NULL DEFAULT false,   -- public figure enrolled by an admin
    display_name      text NOT NULL DEFAULT '',
    aliases           text[] NOT NULL DEFAULT '{}',     -- names that refer to a protected person
    status            text NOT NULL DEFAULT 'active',
    audience          text NOT NULL DEFAULT 'only_me',
    approved_user_ids text[] NOT NULL DEFAULT '{}',
    revoked_user_ids  text[] NOT NULL DEFAULT '{}',
    restrictions      text[] NOT NULL DEFAULT '{}',
    backend           text NOT NULL,
    quality           jsonb NOT NULL,
    media_dir         text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cameos_owner ON cameos (tenant_id, owner_id);
CREATE INDEX cameos_protected ON cameos (tenant_id) WHERE protected;

-- One template (kind 'template', the normalised mean) and one row per enrollment image.
-- Every backend's embedding is stored zero-padded to 512 dimensions (cosine-preserving).
CREATE TABLE cameo_faces (
    id         bigserial PRIMARY KEY,
    cameo_id   uuid NOT NULL REFERENCES cameos(id) ON DELETE CASCADE,
    tenant_id  uuid NOT NULL,
    backend    text NOT NULL,
    kind       text NOT NULL,
    embedding  vector(512) NOT NULL
);
CREATE INDEX cameo_faces_hnsw ON cameo_faces USING hnsw (embedding vector_cosine_ops);
CREATE INDEX cameo_faces_cameo ON cameo_faces (cameo_id);

CREATE TABLE appearances (
    generation_id  uuid NOT NULL REFERENCES generations(id),
    cameo_id       uuid NOT NULL REFERENCES cameos(id) ON DELETE CASCADE,
    tenant_id      uuid NOT NULL,
    kind           text NOT NULL,   -- requested | requested_missing | matched | not_granted | input_image
    similarity     real,
    frames         integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (generation_id, cameo_id)
);
CREATE INDEX appearances_cameo ON appearances (cameo_id, created_at DESC);
