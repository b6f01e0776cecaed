-- Hosts: one row per fleet name, updated by every Hello and heartbeat.
CREATE TABLE hosts (
  name                text PRIMARY KEY,
  inventory           jsonb NOT NULL,
  postfix_version     text NOT NULL DEFAULT '',
  dovecot_version     text NOT NULL DEFAULT '',
  first_seen          timestamptz NOT NULL,
  last_seen           timestamptz NOT NULL,
  connected           boolean NOT NULL DEFAULT false,
  connected_since     timestamptz,
  collector_id        text NOT NULL DEFAULT '',
  session_id          text NOT NULL DEFAULT '',
  peer                text NOT NULL DEFAULT ''
);
