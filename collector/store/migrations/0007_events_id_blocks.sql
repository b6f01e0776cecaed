-- Event ids are handed out in blocks: each nextval of events_id_seq reserves the 65,536 ids
-- from its value up, and the collector numbers the rows of an ingest transaction from the
-- blocks it reserved. A nextval for each row (the column's default) took about 5% of the
-- server's CPU during a bulk load. Ids still grow with the order of reservation, which is
-- what following relies on (see FollowEvents); the default stays for rows added by hand.
ALTER SEQUENCE events_id_seq INCREMENT BY 65536;
