-- Pipeline health: the last heartbeat of each host (per-source lag), as JSON.
ALTER TABLE hosts ADD COLUMN pipeline jsonb;

-- The per-host message lifecycle, derived from events as they arrive: one row per queue id
-- lifecycle (a queue id is reused by Postfix after its message is removed), one row per
-- recipient with its latest delivery attempt. Tracing builds on these.
CREATE TABLE messages (
  id            bigserial PRIMARY KEY,
  host          text NOT NULL,
  queue_id      text NOT NULL,
  first_seen    timestamptz NOT NULL,
  last_seen     timestamptz NOT NULL,
  origin        text,            -- smtp (client=), pickup (local submission)
  client_host   text,
  client_ip     text,
  message_id    text,
  sender        text,
  size          bigint,
  nrcpt         integer,
  removed       boolean NOT NULL DEFAULT false,
  expired       boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX messages_open ON messages (host, queue_id) WHERE NOT removed;
CREATE INDEX messages_host_queue_id ON messages (host, queue_id);
CREATE INDEX messages_message_id ON messages (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX messages_last_seen ON messages (last_seen);

CREATE TABLE recipients (
  message       bigint NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  recipient     text NOT NULL,
  orig_to       text,
  status        text,
  dsn           text,
  relay_host    text,
  relay_ip      text,
  relay_port    integer,
  delay         real,
  delays        real[],
  response      text,
  queued_as     text,
  time          timestamptz,
  attempts      integer NOT NULL DEFAULT 1,
  PRIMARY KEY (message, recipient)
);
CREATE INDEX recipients_queued_as ON recipients (queued_as) WHERE queued_as IS NOT NULL;

-- How far the derivation has read the events table.
CREATE TABLE derive_state (
  name           text PRIMARY KEY,
  last_event_id  bigint NOT NULL
);
INSERT INTO derive_state VALUES ('messages', 0);
