-- The log pipeline: every line of every host, stored exactly once.
-- A source is one log file of one host (its identity: device, inode and first line). Its
-- watermark is the highest end offset stored; the COPY of a batch and the watermark's update
-- share one transaction under the source row's lock, so a replay inserts nothing twice.
CREATE TABLE log_sources (
  host        text NOT NULL,
  source_id   text NOT NULL,
  path        text NOT NULL DEFAULT '',
  watermark   bigint NOT NULL DEFAULT 0,
  lines       bigint NOT NULL DEFAULT 0,
  duplicates  bigint NOT NULL DEFAULT 0,
  last_time   timestamptz,
  updated     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (host, source_id)
);

-- One row per line, partitioned by day of the line's time; retention drops whole days.
-- Lines whose time is far from now (or missing) land in events_default.
CREATE TABLE events (
  id             bigserial,
  time           timestamptz NOT NULL,
  received       timestamptz NOT NULL,
  host           text NOT NULL,
  source_id      text NOT NULL,
  end_offset     bigint NOT NULL,
  kind           text NOT NULL,
  severity       text NOT NULL,
  syslog_host    text,
  program        text,
  service        text,
  pid            integer,
  queue_id       text,
  client_host    text,
  client_ip      text,
  client_port    integer,
  sender         text,
  recipient      text,
  orig_to        text,
  relay_host     text,
  relay_ip       text,
  relay_port     integer,
  delay          real,
  delays         real[],
  dsn            text,
  status         text,
  response       text,
  queued_as      text,
  message_id     text,
  size           bigint,
  nrcpt          integer,
  sasl_method    text,
  sasl_username  text,
  reject_stage   text,
  reject_code    text,
  tls_protocol   text,
  tls_cipher     text,
  dovecot_user   text,
  method         text,
  result         text,
  session        text,
  truncated      boolean NOT NULL DEFAULT false,
  invalid_utf8   boolean NOT NULL DEFAULT false,
  raw            text NOT NULL,     -- the line; bytes that are not UTF-8 (or NUL) as U+FFFD
  raw_bytes      bytea              -- the exact bytes, only when raw had to be changed
) PARTITION BY RANGE (time);

CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE INDEX events_time ON events (time);
CREATE INDEX events_id ON events (id);
CREATE INDEX events_host_queue_id ON events (host, queue_id) WHERE queue_id IS NOT NULL;
CREATE INDEX events_message_id ON events (message_id) WHERE message_id IS NOT NULL;
