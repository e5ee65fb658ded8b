-- provgate schema v1: tenants and keys, generations (the job queue), reviews, outbox.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_hash    bytea NOT NULL UNIQUE,          -- sha256 of the whole key; the key is never stored
    prefix      text NOT NULL,                  -- first characters, to recognise a key in logs
    roles       text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE generations (
    id                uuid PRIMARY KEY,
    tenant_id         uuid NOT NULL REFERENCES tenants(id),
    user_id           text NOT NULL,
    age_band          text NOT NULL,
    prompt            text NOT NULL,
    cameos            text[] NOT NULL DEFAULT '{}',
    input_image       bytea,
    duration_s        real NOT NULL,
    resolution        text NOT NULL,
    fps               integer NOT NULL,
    seed              bigint NOT NULL,
    status            text NOT NULL,
    decision          jsonb,
    prompt_decision   jsonb,
    error             jsonb,
    idempotency_key   text,
    request_hash      text,
    attempts          integer NOT NULL DEFAULT 0,
    lease_owner       text,
    lease_expires_at  timestamptz,
    policy_version    text NOT NULL,
    watermark_payload bigint UNIQUE,
    artifact_path     text,
    artifact_sha256   text,
    artifact_bytes    bigint,
    manifest          jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    finished_at       timestamptz,
    released_at       timestamptz,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX generations_claim ON generations (created_at) WHERE status IN ('queued', 'running');
CREATE INDEX generations_tenant ON generations (tenant_id, created_at DESC);

CREATE TABLE reviews (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants(id),
    generation_id uuid NOT NULL REFERENCES generations(id),
    status        text NOT NULL DEFAULT 'open',
    priority      integer NOT NULL,
    categories    jsonb NOT NULL,
    reasons       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    deadline      timestamptz NOT NULL,
    decision      text,
    notes         text NOT NULL DEFAULT '',
    reviewer      text,
    decided_at    timestamptz
);
CREATE INDEX reviews_open ON reviews (tenant_id, priority, created_at) WHERE status = 'open';
CREATE UNIQUE INDEX reviews_one_open ON reviews (generation_id) WHERE status = 'open';

CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    topic         text NOT NULL,
    key           text NOT NULL,
    ce_id         uuid NOT NULL UNIQUE,
    ce_type       text NOT NULL,
    ce_source     text NOT NULL,
    ce_subject    text NOT NULL,
    ce_time       timestamptz NOT NULL DEFAULT now(),
    data          bytea NOT NULL,
    published_at  timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE daily_usage (
    tenant_id  uuid NOT NULL REFERENCES tenants(id),
    user_id    text NOT NULL,
    day        date NOT NULL,
    count      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, user_id, day)
);
