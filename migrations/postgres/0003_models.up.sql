-- The model registry: named models, their versions, and per version one ONNX file per
-- variant (fp32 and its int8 quantisation) for the scorers and for edge clients.
--
-- * What describes a version (its features, input width, status) is stored once per
--   version in model_versions; the per-variant bytes live in model_artifacts. So the
--   fp32 and int8 files of a version cannot disagree about features or status, and
--   models.active_version can be a real foreign key.
-- * models.active_version -> model_versions: the version the scorers use, so an active
--   version cannot be deleted. model_versions_one_active allows at most one version per
--   model in status 'active' (retire the old one first in the same transaction).
-- * model_artifacts checks that sha256 (the HTTP ETag) and size_bytes match the stored
--   bytes, so the ETag can never lie.
CREATE TABLE models (
    name           text        PRIMARY KEY,
    description    text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    active_version int
);

CREATE TABLE model_versions (
    model_name    text        NOT NULL REFERENCES models (name) ON DELETE CASCADE,
    version       int         NOT NULL CHECK (version > 0),
    feature_names text[]      NOT NULL,
    input_width   int         NOT NULL CHECK (input_width > 0),
    status        text        NOT NULL DEFAULT 'registered'
                              CHECK (status IN ('registered', 'active', 'retired')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, version)
);

CREATE UNIQUE INDEX model_versions_one_active ON model_versions (model_name) WHERE status = 'active';

ALTER TABLE models
    ADD CONSTRAINT models_active_version_fkey FOREIGN KEY (name, active_version)
    REFERENCES model_versions (model_name, version);

CREATE TABLE model_artifacts (
    model_name text        NOT NULL,
    version    int         NOT NULL,
    variant    text        NOT NULL CHECK (variant IN ('fp32', 'int8')),
    sha256     text        NOT NULL,
    size_bytes bigint      NOT NULL,
    onnx       bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model_name, version, variant),
    FOREIGN KEY (model_name, version) REFERENCES model_versions (model_name, version) ON DELETE CASCADE,
    CONSTRAINT model_artifacts_sha256_matches CHECK (sha256 = encode(sha256(onnx), 'hex')),
    CONSTRAINT model_artifacts_size_matches CHECK (size_bytes = octet_length(onnx))
);
