-- Commands: the audit log and the dispatch path (DESIGN.md "Scale and availability").
-- A command is recorded with one target row per host before anything is sent. A replica
-- claims the pending targets of the agents connected to it (state -> sent), the agent's
-- result settles the row, and NOTIFY tells every replica: mailfleet_commands when targets
-- become claimable, mailfleet_results (payload: the command id) when a result lands.
CREATE TABLE commands (
  id            bigserial PRIMARY KEY,
  created_at    timestamptz NOT NULL,
  requested_by  text NOT NULL,
  action        text NOT NULL,
  risk          text NOT NULL,
  dry_run       boolean NOT NULL,
  request       jsonb NOT NULL,          -- the CommandRequest as the CLI sent it
  collector_id  text NOT NULL            -- the replica that took it
);
CREATE INDEX commands_created_at ON commands (created_at);

-- state: waiting (a later rollout wave), pending, queued (for an offline host, until
-- expires_at), sent; final: ok, failed, refused, timeout, cancelled, offline, skipped, expired.
CREATE TABLE command_targets (
  command_id    bigint NOT NULL REFERENCES commands (id) ON DELETE CASCADE,
  host          text NOT NULL,
  position      integer NOT NULL,        -- rollout order
  wave          integer NOT NULL,
  state         text NOT NULL,
  expires_at    timestamptz,             -- queued: given up after this
  timeout_s     integer NOT NULL,
  sent_at       timestamptz,
  sent_by       text,                    -- the replica that delivered it
  finished_at   timestamptz,
  exit_code     integer,
  error         text NOT NULL DEFAULT '',
  result        jsonb,                   -- the agent's ActionResult, output capped
  PRIMARY KEY (command_id, host)
);
CREATE INDEX command_targets_claimable ON command_targets (host)
  WHERE state IN ('pending', 'queued');
CREATE INDEX command_targets_host ON command_targets (host, command_id);
