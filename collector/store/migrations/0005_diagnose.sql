-- Fleet-wide check results of a diagnose run (fleet.reachability, fleet.config_drift), next to
-- the per-host results in command_targets.result.
ALTER TABLE commands ADD COLUMN fleet jsonb;
