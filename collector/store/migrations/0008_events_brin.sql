-- One BRIN index on (time, id) in place of the btree on time and the BRIN on id.
-- Every line copied in had to be put into the btree at its place: a third of the server's time
-- in a bulk COPY (a million pipeline bench lines into an empty table, alone on a 2-core
-- machine: 4.1-5.1 s with the btree and the BRIN on id, 3.0-3.5 s with this index alone).
-- Lines arrive about in time order and ids grow with the rows' physical order, so the block
-- ranges' bounds stay narrow for both columns: a time window or an id range reads the few
-- ranges that can hold it. Reading in time order is gone: the newest lines are found window
-- by window (see PgStore::QueryEvents), and following goes by id as before (FollowEvents).
-- Ranges are summarised by the collector once they fill (PgStore::SummarizeEvents) and by
-- (auto)vacuum: autosummarize only queues a request for autovacuum, and a busy minute fills
-- more ranges than its queue holds ("request for BRIN range summarization ... was not
-- recorded" in the server's log, the range unsummarised until the next vacuum).
DROP INDEX events_time;
DROP INDEX events_id;
CREATE INDEX events_time_id ON events USING brin (time, id);
