-- events.id serves only `logs --follow` (the lines after the last one shown) and the newest
-- id. Ids grow with the rows' physical order, so a BRIN index finds a range of them in a few
-- pages per partition, at a fraction of what a btree costs each inserted line (about 1 s per
-- million lines on a 2-core machine).
DROP INDEX events_id;
CREATE INDEX events_id ON events USING brin (id) WITH (autosummarize = on);
