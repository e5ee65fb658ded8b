-- Review queue: assignment leases, thumbnails by reference, escalation, and a log of every
-- decision (stats, history of escalations).
ALTER TABLE reviews
    ADD COLUMN assigned_to      text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN thumbnails       integer NOT NULL DEFAULT 0,
    ADD COLUMN escalated        boolean NOT NULL DEFAULT false,
    ADD COLUMN reason           text NOT NULL DEFAULT '';

CREATE TABLE review_decisions (
    id          bigserial PRIMARY KEY,
    review_id   uuid NOT NULL REFERENCES reviews(id),
    tenant_id   uuid NOT NULL REFERENCES tenants(id),
    decision    text NOT NULL,
    reviewer    text NOT NULL,
    notes       text NOT NULL DEFAULT '',
    source      text NOT NULL,            -- api | kafka
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX review_decisions_recent ON review_decisions (tenant_id, created_at DESC);
